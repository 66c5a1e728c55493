using System;

namespace Quant.Formats.Tests.Hqq;

/// <summary>
/// mistral.rs' HQQ, re-derived in the test as the candle tensor program it is (mistralrs-quant/src/hqq/quantize.rs
/// at d5f3be6f, optimize.rs at b9dc359d, the CPU bitpack and dequantization of hqq/mod.rs at 1730ccd9 and
/// hqq_op.rs): every operation makes a new float32 array, reductions fold in memory order, and both axes are
/// supported. It shares nothing with <see cref="Quantization.Hqq"/> or the UQFF codec.
/// </summary>
internal static class MistralRsHqq
{
    /// <summary>The weight viewed as <c>[Rows, Columns]</c> (axis 1: <c>[groups, group_size]</c>; axis 0: <c>[group_size, groups]</c>).</summary>
    /// <param name="Codes">The final <c>wq</c> (integers as floats), row-major in the view.</param>
    /// <param name="InverseScale">The optimiser's <c>scale</c> per group (what the codes were rounded with).</param>
    /// <param name="Zero">The zero point per group.</param>
    /// <param name="Scales">The stored scales, <c>1.0 / scale</c>.</param>
    /// <param name="Steps">Iterations that ran (the one that stopped the loop included).</param>
    internal sealed record Result(float[] Codes, float[] InverseScale, float[] Zero, float[] Scales, int Rows, int Columns, int Axis, int Steps)
    {
        public int Group(int row, int column) => Axis == 1 ? row : column;

        /// <summary>The codes as <c>wq.to_dtype(U8)</c> gives them (a -0 from rounding becomes 0).</summary>
        public byte[] ByteCodes() => Array.ConvertAll(Codes, c => (byte)c);
    }

    /// <summary><c>HqqLayer::quantize</c> with <c>channel_wise = true</c>.</summary>
    public static Result Quantize(float[] weight, int groupSize, int bits, int axis, int steps, bool roundZeros)
    {
        int groups = weight.Length / groupSize;
        int rows = axis == 1 ? groups : groupSize, columns = axis == 1 ? groupSize : groups;
        var w = weight; // w.reshape(...) is a view: same memory order
        int GroupOf(int flat) => axis == 1 ? flat / columns : flat % columns;

        // min_keepdim / max_keepdim along the axis.
        var min = new float[groups];
        var max = new float[groups];
        var seen = new bool[groups];
        for (int f = 0; f < w.Length; f++)
        {
            int g = GroupOf(f);
            if (!seen[g]) { min[g] = w[f]; max[g] = w[f]; seen[g] = true; continue; }
            if (w[f] < min[g]) min[g] = w[f];
            if (w[f] > max[g]) max[g] = w[f];
        }
        double maxV = Math.Round(Math.Pow(2, bits) - 1);

        // scale = (max_v / (max - min)).clamp(0, 2e4): `f64 / Tensor` is recip then affine(max_v, 0).
        var range = Map(max, min, (a, b) => a - b);
        var scale = Map(Map(range, v => 1f / v), v => v * (float)maxV + 0f);
        scale = Map(Map(scale, v => Maximum(v, 0f)), v => Minimum(v, 2e4f));
        var zero = Map(Map(min, v => -v), scale, (a, b) => a * b);
        if (roundZeros) zero = Map(zero, v => MathF.Round(v, MidpointRounding.AwayFromZero));

        // optimize_weights_proximal_legacy: lp_norm 0.7, beta 10, kappa 1.01.
        double beta = 10.0;
        float best = 1e4f;
        float powExp = (float)(0.7 - 1.0);
        int ran = 0;
        for (int iter = 0; iter < steps; iter++)
        {
            ran++;
            var wq = Clamp(Map(Map(Bcast(w, scale, GroupOf, (a, b) => a * b), zero, GroupOf, (a, b) => a + b), v => MathF.Round(v, MidpointRounding.AwayFromZero)), (float)maxV);
            var wr = Bcast(Bcast(wq, zero, GroupOf, (a, b) => a - b), scale, GroupOf, (a, b) => a / b);
            var diff = Map(w, wr, (a, b) => a - b);
            float inverseBeta = (float)(1.0 / beta);
            var abs = Map(diff, MathF.Abs);
            var pow = Map(Map(Map(abs, MathF.Log), v => powExp * v), MathF.Exp);
            var shrunk = Map(Map(abs, Map(pow, v => v * inverseBeta + 0f), (a, b) => a - b), v => v > 0f ? v : 0f);
            var we = Map(Map(diff, v => v > 0f ? 1f : v < 0f ? -1f : 0f), shrunk, (a, b) => a * b);
            var target = Map(wq, Bcast(Map(w, we, (a, b) => a - b), scale, GroupOf, (a, b) => a * b), (a, b) => a - b);
            var sums = new float[groups];
            for (int f = 0; f < target.Length; f++) sums[GroupOf(f)] += target[f];
            zero = Map(sums, v => v * (float)(1.0 / groupSize) + 0f);
            beta *= 1.01;

            float total = 0f;
            foreach (float v in Map(Map(w, wr, (a, b) => a - b), MathF.Abs)) total += v;
            float error = total * (float)(1.0 / w.Length) + 0f;
            if (error < best) best = error;
            else break;
        }
        var codes = Clamp(Map(Map(Bcast(w, scale, GroupOf, (a, b) => a * b), zero, GroupOf, (a, b) => a + b), v => MathF.Round(v, MidpointRounding.AwayFromZero)), (float)maxV);
        var scales = Map(Map(scale, v => 1f / v), v => v * 1f + 0f);
        return new Result(codes, scale, zero, scales, rows, columns, axis, ran);
    }

    /// <summary>
    /// <c>HqqBits::bitpack_type</c>'s CPU fallback on a <c>[rows, columns]</c> code matrix: k = 8 / bits rows per byte
    /// (ten per i32 for 3 bits), row <c>p + j * step</c> shifted to the j-th slot from the top. mistral.rs pads 3-bit
    /// rows to a multiple of 10; so does this for every width (mistral.rs would drop the remainder rows instead).
    /// Returns the bytes of the U8 or little-endian I32 tensor, and its row count.
    /// </summary>
    public static (byte[] Data, int Rows) Bitpack(float[] codes, int rows, int columns, int bits)
    {
        int k = bits == 3 ? 10 : 8 / bits;
        int step = (rows + k - 1) / k;
        int[] shifts = bits switch
        {
            8 => [0],
            4 => [4, 0],
            2 => [6, 4, 2, 0],
            1 => [7, 6, 5, 4, 3, 2, 1, 0],
            _ => [27, 24, 21, 18, 15, 12, 9, 6, 3, 0],
        };
        var words = new int[step * columns];
        for (int j = 0; j < k; j++)
        {
            for (int p = 0; p < step; p++)
            {
                int row = j * step + p;
                if (row >= rows) continue; // the zero padding
                for (int c = 0; c < columns; c++) words[p * columns + c] |= (int)codes[row * columns + c] << shifts[j];
            }
        }
        if (bits != 3) return (Array.ConvertAll(words, v => (byte)v), step);
        var data = new byte[words.Length * 4];
        Buffer.BlockCopy(words, 0, data, 0, data.Length);
        return (data, step);
    }

    /// <summary>hqq_op.rs' CPU dequantization: <c>(T::from_f64(q) - z[j]) * s[j]</c> in float32, then reshaped to w_shape.</summary>
    public static float[] Dequantize(Result r)
    {
        var result = new float[r.Codes.Length];
        for (int row = 0; row < r.Rows; row++)
        {
            for (int c = 0; c < r.Columns; c++)
            {
                int g = r.Group(row, c);
                result[row * r.Columns + c] = (r.Codes[row * r.Columns + c] - r.Zero[g]) * r.Scales[g];
            }
        }
        return result;
    }

    private static float Maximum(float a, float b) => a < b ? b : a;

    private static float Minimum(float a, float b) => a > b ? b : a;

    private static float[] Clamp(float[] values, float max) => Map(Map(values, v => Maximum(v, 0f)), v => Minimum(v, max));

    private static float[] Map(float[] a, Func<float, float> f) => Array.ConvertAll(a, v => f(v));

    private static float[] Map(float[] a, float[] b, Func<float, float, float> f)
    {
        var result = new float[a.Length];
        for (int i = 0; i < a.Length; i++) result[i] = f(a[i], b[i]);
        return result;
    }

    /// <summary>An elementwise op with a per-group tensor broadcast over the view.</summary>
    private static float[] Bcast(float[] a, float[] perGroup, Func<int, int> groupOf, Func<float, float, float> f)
    {
        var result = new float[a.Length];
        for (int i = 0; i < a.Length; i++) result[i] = f(a[i], perGroup[groupOf(i)]);
        return result;
    }

    private static float[] Map(float[] a, float[] perGroup, Func<int, int> groupOf, Func<float, float, float> f) => Bcast(a, perGroup, groupOf, f);
}
