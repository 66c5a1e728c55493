using System;
using Quant.Quantization;

namespace Quant.Ggml.Tests;

/// <summary>Runs the library's quantizer of a ggml type on one block and returns its logical values.</summary>
internal static class Quantizers
{
    /// <summary>
    /// Quantizes one block of <paramref name="x"/> with <paramref name="importance"/> (empty for none).
    /// <paramref name="row"/> is the whole row the block belongs to (the legacy weighted searches need its
    /// mean square); <paramref name="rowRef"/> picks iq4_nl's row-reference variant.
    /// </summary>
    public static LogicalBlock Quantize(string type, ReadOnlySpan<float> x, ReadOnlySpan<float> importance, ReadOnlySpan<float> row, bool rowRef = false)
    {
        Span<byte> codes = stackalloc byte[256];
        Span<byte> scales = stackalloc byte[16];
        Span<byte> mins = stackalloc byte[16];
        float d, dmin;
        switch (type)
        {
            case "q4_0":
            case "q5_0":
                GgmlLegacy.QuantizeSignedMaxWeighted(x, importance, GgmlLegacy.RowSigma2(row), type == "q4_0" ? 4 : 5, codes, out d);
                return new LogicalBlock { D = d, Codes = Ints(codes[..32]) };
            case "q4_1":
            case "q5_1":
                GgmlLegacy.QuantizeMinMaxWeighted(x, importance, GgmlLegacy.RowSigma2(row), type == "q4_1" ? 4 : 5, codes, out d, out dmin);
                return new LogicalBlock { D = d, Dmin = dmin, Codes = Ints(codes[..32]) };
            case "q2_K":
                GgmlKQuants.QuantizeQ2K(x, importance, codes, scales, mins, out d, out dmin);
                return new LogicalBlock { D = d, Dmin = dmin, Codes = Ints(codes), Scales = Ints(scales), Mins = Ints(mins) };
            case "q3_K":
                GgmlKQuants.QuantizeQ3K(x, importance, codes, scales, out d);
                return new LogicalBlock { D = d, Codes = Ints(codes), Scales = Ints(scales) };
            case "q4_K":
                GgmlKQuants.QuantizeQ4K(x, importance, codes, scales[..8], mins[..8], out d, out dmin);
                return new LogicalBlock { D = d, Dmin = dmin, Codes = Ints(codes), Scales = Ints(scales[..8]), Mins = Ints(mins[..8]) };
            case "q5_K":
                GgmlKQuants.QuantizeQ5K(x, importance, codes, scales[..8], mins[..8], out d, out dmin);
                return new LogicalBlock { D = d, Dmin = dmin, Codes = Ints(codes), Scales = Ints(scales[..8]), Mins = Ints(mins[..8]) };
            case "q6_K":
            {
                Span<sbyte> signedScales = stackalloc sbyte[16];
                GgmlKQuants.QuantizeQ6K(x, importance, codes, signedScales, out d);
                var scaleInts = new int[16];
                for (int i = 0; i < 16; i++) scaleInts[i] = signedScales[i];
                return new LogicalBlock { D = d, Codes = Ints(codes), Scales = scaleInts };
            }
            case "q8_K":
            {
                Span<sbyte> q = stackalloc sbyte[256];
                GgmlKQuants.QuantizeQ8K(x, q, out d);
                var codeInts = new int[256];
                for (int i = 0; i < 256; i++) codeInts[i] = q[i];
                return new LogicalBlock { D = d, Codes = codeInts };
            }
            case "iq4_nl":
                if (rowRef) GgmlIq4.QuantizeIq4NlRowRef(x, codes, out d);
                else GgmlIq4.QuantizeIq4Nl(x, importance, codes, out d);
                return new LogicalBlock { D = d, Codes = Ints(codes[..32]) };
            case "iq4_xs":
                GgmlIq4.QuantizeIq4Xs(x, importance, codes, scales[..8], out d);
                return new LogicalBlock { D = d, Codes = Ints(codes), Scales = Ints(scales[..8]) };
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "No quantizer for this type.");
        }
    }

    private static int[] Ints(ReadOnlySpan<byte> values)
    {
        var result = new int[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = values[i];
        return result;
    }
}
