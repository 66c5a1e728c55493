using System;
using System.Globalization;
using Xunit.Sdk;

namespace Quant.Formats.Tests.Support;

/// <summary>Assertions that say where two arrays first differ, with the context (seed, format, level) in the message.</summary>
internal static class Check
{
    /// <summary>Relative slack of the float kernels' dot products: 1e-5 of sum |w x|.</summary>
    public const double DotTolerance = 1e-5;

    /// <summary>
    /// The absolute error floor of a float32 dot of <paramref name="k"/> terms: a product or sum that
    /// underflows into the subnormals is off by up to 2^-149 however small the relative bound is
    /// (weights of 1e-30 times activations of 1e-30 give 0 in float32, not 1e-60).
    /// </summary>
    public static double UnderflowSlack(int k) => 2.0 * (k + 1) * float.Epsilon;

    /// <summary>Asserts two float arrays are equal bit for bit (any NaN equals any NaN: payloads are not part of the contract).</summary>
    public static void BitsEqual(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string context, int rowLength = 0)
    {
        if (expected.Length != actual.Length)
        {
            throw new XunitException($"{context}: {actual.Length} floats, expected {expected.Length}.");
        }
        int mismatches = 0, zeroSignOnly = 0, first = -1, firstOther = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (!SameBits(expected[i], actual[i]))
            {
                if (first < 0) first = i;
                mismatches++;
                if (expected[i] == 0f && actual[i] == 0f) zeroSignOnly++;
                else if (firstOther < 0) firstOther = i;
            }
        }
        if (first >= 0)
        {
            // Telling sign-of-zero differences apart keeps one such bug from hiding others.
            string message = string.Create(CultureInfo.InvariantCulture,
                $"{context}: {mismatches} of {expected.Length} floats differ ({zeroSignOnly} only in the sign of a zero); first at {Where(first, rowLength)}: expected {Show(expected[first])}, got {Show(actual[first])}.");
            if (firstOther >= 0 && firstOther != first)
            {
                message += string.Create(CultureInfo.InvariantCulture,
                    $" First other difference at {Where(firstOther, rowLength)}: expected {Show(expected[firstOther])}, got {Show(actual[firstOther])}.");
            }
            throw zeroSignOnly == mismatches ? new ZeroSignMismatchException(message) : new XunitException(message);
        }
    }

    private static string Where(int index, int rowLength)
        => rowLength > 0 ? $"row {index / rowLength}, column {index % rowLength}" : $"index {index}";

    public static bool SameBits(float a, float b)
        => BitConverter.SingleToUInt32Bits(a) == BitConverter.SingleToUInt32Bits(b) || (float.IsNaN(a) && float.IsNaN(b));

    /// <summary>Asserts two byte arrays are equal, naming the first differing byte and its block.</summary>
    public static void BytesEqual(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, string context, int recordSize = 0)
    {
        if (expected.Length != actual.Length)
        {
            throw new XunitException($"{context}: {actual.Length} bytes, expected {expected.Length}.");
        }
        int mismatches = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] != actual[i])
            {
                if (first < 0) first = i;
                mismatches++;
            }
        }
        if (first >= 0)
        {
            string where = recordSize > 0 ? $"byte {first} (record {first / recordSize}, offset {first % recordSize})" : $"byte {first}";
            throw new XunitException(string.Create(CultureInfo.InvariantCulture,
                $"{context}: {mismatches} of {expected.Length} bytes differ; first at {where}: expected 0x{expected[first]:X2}, got 0x{actual[first]:X2}."));
        }
    }

    /// <summary>Asserts |actual - expected| &lt;= 1e-5 * scale + slack, where scale is sum |w x| in float64.</summary>
    public static void Close(double expected, float actual, double scale, double slack, string context)
    {
        double error = Math.Abs(actual - expected);
        double bound = DotTolerance * scale + slack;
        if (!(error <= bound))
        {
            throw new XunitException(string.Create(CultureInfo.InvariantCulture,
                $"{context}: got {actual:R}, expected {expected:R} (float64); error {error:E3} above the bound {bound:E3} (sum |w x| = {scale:E3})."));
        }
    }

    public static string Show(float value) => string.Create(CultureInfo.InvariantCulture,
        $"{value:R} (0x{BitConverter.SingleToUInt32Bits(value):X8})");
}

/// <summary>A bit-for-bit mismatch in which every differing float is a zero of the other sign (-0.0 vs +0.0).</summary>
internal sealed class ZeroSignMismatchException(string message) : XunitException(message);
