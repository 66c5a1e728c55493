using System;
using System.Globalization;
using Xunit.Sdk;

namespace Quant.Formats.Tests.Support;

/// <summary>
/// Bit-for-bit float assertions in which NaN payloads and signs count too (unlike <see cref="Check.BitsEqual"/>):
/// for decoders whose NaN is part of the contract.
/// </summary>
internal static class ExactBits
{
    public static void Equal(float expected, float actual, string context)
    {
        if (BitConverter.SingleToUInt32Bits(expected) != BitConverter.SingleToUInt32Bits(actual))
        {
            throw new XunitException($"{context}: expected {Check.Show(expected)}, got {Check.Show(actual)}.");
        }
    }

    public static void Equal(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string context)
    {
        if (expected.Length != actual.Length) throw new XunitException($"{context}: {actual.Length} floats, expected {expected.Length}.");
        int mismatches = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(actual[i])) continue;
            if (first < 0) first = i;
            mismatches++;
        }
        if (first >= 0)
        {
            throw new XunitException(string.Create(CultureInfo.InvariantCulture,
                $"{context}: {mismatches} of {expected.Length} floats differ; first at index {first}: expected {Check.Show(expected[first])}, got {Check.Show(actual[first])}."));
        }
    }
}
