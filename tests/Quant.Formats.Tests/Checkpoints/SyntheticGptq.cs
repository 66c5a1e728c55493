using System;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Checkpoints;

namespace Quant.Formats.Tests.Checkpoints;

/// <summary>One synthetic checkpoint layer to test with: a name for theory data and the parameters to build it from.</summary>
public sealed record GptqCase(GptqFlavor Flavor, int Bits, int GroupSize, bool ActOrder, int InFeatures, int OutFeatures, bool WithGroupIndex = true)
{
    public override string ToString()
        => $"{Flavor} {Bits}-bit g{GroupSize}{(ActOrder ? " act-order" : "")}{(Flavor != GptqFlavor.Awq && !WithGroupIndex ? " no g_idx" : "")} K={InFeatures} N={OutFeatures}";
}

/// <summary>
/// A GPTQ or AWQ layer built the way AutoGPTQ (qlinear_cuda.py <c>pack</c>) and AutoAWQ (gemm.py <c>from_linear</c>) write
/// one, from random codes, zero points, F16 scales and (act-order) a random column permutation; and the float64 weight
/// read back from those tensors by this file's own unpacking (AutoGPTQ's 3-bit word splitting, AWQ's reverse order).
/// None of it shares code with the adapter under test.
/// </summary>
internal sealed class SyntheticGptq
{
    /// <summary>AutoAWQ's <c>order_map</c>: nibble i of a word holds output column 8c + AwqOrderMap[i].</summary>
    private static readonly int[] AwqOrderMap = [0, 2, 4, 6, 1, 3, 5, 7];

    /// <summary>AutoAWQ's and vLLM's <c>AWQ_REVERSE_ORDER</c>, applied to columns unpacked in nibble order.</summary>
    private static readonly int[] AwqReverseOrder = [0, 4, 1, 5, 2, 6, 3, 7];

    public SyntheticGptq(GptqCase c, ulong seed)
    {
        Case = c;
        Config = new GptqConfig(c.Flavor, c.Bits, c.GroupSize);
        K = c.InFeatures;
        N = c.OutFeatures;
        Group = c.GroupSize == -1 ? K : c.GroupSize;
        Groups = (K + Group - 1) / Group;
        var rng = new SplitMix64(seed);
        int maxq = (1 << c.Bits) - 1;
        int zeroOffset = c.Flavor == GptqFlavor.GptqV1 ? 1 : 0;

        // Codes [K, N] (AutoGPTQ's intweight after its transpose), zero points and scales [groups, N].
        Codes = new int[K, N];
        for (int k = 0; k < K; k++)
        {
            for (int n = 0; n < N; n++) Codes[k, n] = rng.NextInt(maxq + 1);
        }
        Zeros = new int[Groups, N];
        ScaleValues = new Half[Groups * N];
        for (int g = 0; g < Groups; g++)
        {
            for (int n = 0; n < N; n++)
            {
                // Symmetric GPTQ stores 2^(bits-1); the extremes of each flavour's range come up often.
                int pick = rng.NextInt(8);
                Zeros[g, n] = pick switch
                {
                    0 => zeroOffset,
                    1 => maxq + zeroOffset,
                    2 => 1 << (c.Bits - 1),
                    _ => rng.NextInt(maxq + 1) + zeroOffset,
                };
                ScaleValues[g * N + n] = RandomScale(rng);
            }
        }

        // Act-order: AutoGPTQ quantizes columns in the order perm and stores g_idx = (arange(K) // G)[invperm].
        GIdx = new int[K];
        if (c.ActOrder)
        {
            var perm = new int[K];
            for (int i = 0; i < K; i++) perm[i] = i;
            for (int i = K - 1; i > 0; i--)
            {
                int j = rng.NextInt(i + 1);
                (perm[i], perm[j]) = (perm[j], perm[i]);
            }
            var invperm = new int[K];
            for (int i = 0; i < K; i++) invperm[perm[i]] = i;
            for (int k = 0; k < K; k++) GIdx[k] = invperm[k] / Group;
        }
        else
        {
            for (int k = 0; k < K; k++) GIdx[k] = k / Group;
        }

        Bias = new float[N];
        for (int n = 0; n < N; n++) Bias[n] = (float)(Half)rng.NextGaussian();

        Tensors = Pack(Config, Codes, Zeros, ScaleValues, c.Flavor == GptqFlavor.Awq || !c.WithGroupIndex ? null : GIdx);
        Reference = Unpack(Config, Tensors, K, N);
        for (int k = 0; k < K; k++)
        {
            for (int n = 0; n < N; n++)
            {
                double expected = (Codes[k, n] - Zeros[GIdx[k], n]) * (double)ScaleValues[GIdx[k] * N + n];
                if (!expected.Equals(Reference[n * K + k]))
                {
                    throw new InvalidOperationException($"The test's own packing does not read back at [{n}, {k}]: {Reference[n * K + k]} vs {expected}.");
                }
            }
        }
    }

    public GptqCase Case { get; }
    public GptqConfig Config { get; }
    public int K { get; }
    public int N { get; }
    public int Group { get; }
    public int Groups { get; }

    /// <summary>Codes, <c>[K, N]</c>.</summary>
    public int[,] Codes { get; }

    /// <summary>Zero points z (not the stored value), <c>[groups, N]</c>.</summary>
    public int[,] Zeros { get; }

    /// <summary>Scales, <c>[groups, N]</c>.</summary>
    public Half[] ScaleValues { get; }

    /// <summary>The group of each input column (trivial without act-order).</summary>
    public int[] GIdx { get; }

    /// <summary>An F16-valued bias, <c>N</c>.</summary>
    public float[] Bias { get; }

    public GptqTensors Tensors { get; }

    /// <summary>W, <c>[N, K]</c> in float64, read back from <see cref="Tensors"/>.</summary>
    public double[] Reference { get; }

    /// <summary>Scales as checkpoints have them: mostly 1e-4 to 0.1 of either sign, with zeros, subnormals and large ones among them.</summary>
    private static Half RandomScale(SplitMix64 rng)
    {
        int pick = rng.NextInt(50);
        double value = pick switch
        {
            0 => 0.0,
            1 => rng.NextInt(1, 1023) * Math.ScaleB(1.0, -24), // F16 subnormals
            2 => rng.NextDouble() * 1000,
            _ => Math.Exp(rng.NextDouble() * 7 - 9.2),
        };
        if (rng.NextInt(10) == 0) value = -value;
        return (Half)value;
    }

    /// <summary>The tensors as AutoGPTQ (v1: stores z - 1; v2: z) or AutoAWQ writes them.</summary>
    public static GptqTensors Pack(GptqConfig config, int[,] codes, int[,] zeros, Half[] scales, int[]? gIdx)
    {
        int k = codes.GetLength(0), n = codes.GetLength(1), groups = zeros.GetLength(0), bits = config.Bits;
        var stored = new uint[groups, n];
        for (int g = 0; g < groups; g++)
        {
            for (int c = 0; c < n; c++) stored[g, c] = (uint)(zeros[g, c] - (config.Flavor == GptqFlavor.GptqV1 ? 1 : 0));
        }
        var intweight = new uint[k, n];
        for (int i = 0; i < k; i++)
        {
            for (int c = 0; c < n; c++) intweight[i, c] = (uint)codes[i, c];
        }
        if (config.Flavor == GptqFlavor.Awq)
        {
            var qweight = AwqPack(intweight);
            var qzeros = AwqPack(stored);
            return new GptqTensors(
                new CheckpointTensor<int>(Flatten(qweight), k, n / 8),
                new CheckpointTensor<int>(Flatten(qzeros), groups, n / 8),
                new CheckpointTensor<Half>((Half[])scales.Clone(), groups, n));
        }
        var qw = GptqPackRows(intweight, bits);
        var qz = Transpose(GptqPackRows(Transpose(stored), bits));
        return new GptqTensors(
            new CheckpointTensor<int>(Flatten(qw), qw.GetLength(0), n),
            new CheckpointTensor<int>(Flatten(qz), groups, qz.GetLength(1)),
            new CheckpointTensor<Half>((Half[])scales.Clone(), groups, n),
            gIdx is null ? null : new CheckpointTensor<int>((int[])gIdx.Clone(), k));
    }

    /// <summary>
    /// AutoGPTQ's packing loop: rows of <paramref name="values"/> (32 / bits per word for 2, 4 and 8 bits; for 3 bits,
    /// 32 rows in three words split 10 + 1 + 10 + 1 + 10, the odd ones straddling words).
    /// </summary>
    private static uint[,] GptqPackRows(uint[,] values, int bits)
    {
        int rows = values.GetLength(0), cols = values.GetLength(1);
        var q = new uint[rows / 32 * bits, cols];
        for (int c = 0; c < cols; c++)
        {
            int i = 0, row = 0;
            while (row < q.GetLength(0))
            {
                if (bits != 3)
                {
                    for (int j = i; j < i + 32 / bits; j++) q[row, c] |= values[j, c] << (bits * (j - i));
                    i += 32 / bits;
                    row++;
                    continue;
                }
                for (int j = i; j < i + 10; j++) q[row, c] |= values[j, c] << (3 * (j - i));
                i += 10;
                q[row, c] |= values[i, c] << 30;
                row++;
                q[row, c] |= (values[i, c] >> 2) & 1;
                i++;
                for (int j = i; j < i + 10; j++) q[row, c] |= values[j, c] << (3 * (j - i) + 1);
                i += 10;
                q[row, c] |= values[i, c] << 31;
                row++;
                q[row, c] |= (values[i, c] >> 1) & 0x3;
                i++;
                for (int j = i; j < i + 10; j++) q[row, c] |= values[j, c] << (3 * (j - i) + 2);
                i += 10;
                row++;
            }
        }
        return q;
    }

    /// <summary>AutoAWQ's packing: word c of a row holds columns 8c + order_map[i] in nibble i.</summary>
    private static uint[,] AwqPack(uint[,] values)
    {
        int rows = values.GetLength(0), cols = values.GetLength(1);
        var q = new uint[rows, cols / 8];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols / 8; c++)
            {
                for (int i = 0; i < 8; i++) q[r, c] |= values[r, c * 8 + AwqOrderMap[i]] << (i * 4);
            }
        }
        return q;
    }

    /// <summary>W <c>[N, K]</c> in float64 from the tensors, unpacked as AutoGPTQ's torch fallback and AutoAWQ's dequantize_gemm do.</summary>
    public static double[] Unpack(GptqConfig config, GptqTensors tensors, int k, int n)
    {
        int bits = config.Bits, group = config.GroupSize == -1 ? k : config.GroupSize;
        int[] qweight = tensors.QWeight.Data.ToArray();
        int[] qzeros = tensors.QZeros.Data.ToArray();
        var scales = tensors.Scales.Data.Span;
        int zeroCols = tensors.QZeros.Shape[1];
        var w = new double[n * k];
        for (int c = 0; c < n; c++)
        {
            for (int i = 0; i < k; i++)
            {
                int g = tensors.GIdx is null ? i / group : tensors.GIdx.Data.Span[i];
                int code, zero;
                if (config.Flavor == GptqFlavor.Awq)
                {
                    code = AwqField(qweight, n / 8, i, c);
                    zero = AwqField(qzeros, n / 8, g, c);
                }
                else
                {
                    code = GptqField(index => (uint)qweight[index * n + c], i, bits);
                    zero = GptqField(index => (uint)qzeros[g * zeroCols + index], c, bits) + (config.Flavor == GptqFlavor.GptqV1 ? 1 : 0);
                }
                w[c * k + i] = (code - zero) * (double)scales[g * n + c];
            }
        }
        return w;
    }

    /// <summary>Field <paramref name="index"/> of a packed run: 32 / bits per word, or AutoGPTQ's 3-bit unpacking (wf shifts and the two straddling fields).</summary>
    private static int GptqField(Func<int, uint> word, int index, int bits)
    {
        if (bits != 3)
        {
            int per = 32 / bits;
            return (int)((word(index / per) >> (bits * (index % per))) & ((1u << bits) - 1));
        }
        int t = index / 32, m = index % 32;
        uint w0 = word(3 * t), w1 = word(3 * t + 1), w2 = word(3 * t + 2);
        uint value = m switch
        {
            < 10 => w0 >> (3 * m),
            10 => ((w0 >> 30) & 0x3) | ((w1 << 2) & 0x4),
            < 21 => w1 >> (3 * (m - 11) + 1),
            21 => ((w1 >> 31) & 0x1) | ((w2 << 1) & 0x6),
            _ => w2 >> (3 * (m - 22) + 2),
        };
        return (int)(value & 0x7);
    }

    /// <summary>AWQ: unpack word <c>[row, c / 8]</c> in nibble order, then pick column c through AWQ_REVERSE_ORDER.</summary>
    private static int AwqField(ReadOnlySpan<int> packed, int wordsPerRow, int row, int column)
    {
        uint word = (uint)packed[row * wordsPerRow + column / 8];
        Span<int> nibbles = stackalloc int[8];
        for (int i = 0; i < 8; i++) nibbles[i] = (int)((word >> (4 * i)) & 0xF);
        return nibbles[AwqReverseOrder[column % 8]];
    }

    private static uint[,] Transpose(uint[,] values)
    {
        var t = new uint[values.GetLength(1), values.GetLength(0)];
        for (int i = 0; i < values.GetLength(0); i++)
        {
            for (int j = 0; j < values.GetLength(1); j++) t[j, i] = values[i, j];
        }
        return t;
    }

    private static int[] Flatten(uint[,] values)
    {
        var flat = new int[values.Length];
        int at = 0;
        for (int i = 0; i < values.GetLength(0); i++)
        {
            for (int j = 0; j < values.GetLength(1); j++) flat[at++] = (int)values[i, j];
        }
        return flat;
    }
}

/// <summary>The sweep of layers every checkpoint test runs over, named so that xunit lists each case on its own.</summary>
internal static class GptqCases
{
    private static readonly GptqCase[] s_cases = Build();

    /// <summary>
    /// GPTQ v1 and v2 at 2, 3, 4 and 8 bits and AWQ at 4, with groups of 32, 64, 128 and -1 (per channel), a row of 320
    /// with groups of 128 (a short last group, held in blocks of 64), with and without act-order, and GPTQ without g_idx.
    /// </summary>
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in s_cases) data.Add(c.ToString());
        return data;
    }

    public static GptqCase Get(string name) => Array.Find(s_cases, c => c.ToString() == name) ?? throw new ArgumentException($"No case '{name}'.");

    /// <summary>The checkpoint of case <paramref name="name"/>, from a seed that depends only on the name (FNV-1a), so a failure reproduces.</summary>
    public static SyntheticGptq Build(string name)
    {
        ulong seed = 14695981039346656037UL;
        foreach (char ch in name) seed = (seed ^ ch) * 1099511628211UL;
        return new SyntheticGptq(Get(name), seed);
    }

    private static GptqCase[] Build()
    {
        var cases = new System.Collections.Generic.List<GptqCase>();
        foreach (var flavor in new[] { GptqFlavor.GptqV1, GptqFlavor.GptqV2, GptqFlavor.Awq })
        {
            foreach (int bits in flavor == GptqFlavor.Awq ? new[] { 4 } : new[] { 2, 3, 4, 8 })
            {
                foreach (var (group, k) in new[] { (32, 256), (64, 192), (128, 256), (-1, 256), (128, 320) })
                {
                    foreach (bool actOrder in flavor == GptqFlavor.Awq ? new[] { false } : new[] { false, true })
                    {
                        cases.Add(new GptqCase(flavor, bits, group, actOrder, k, 64));
                    }
                }
                if (flavor != GptqFlavor.Awq) cases.Add(new GptqCase(flavor, bits, 64, false, 128, 96, WithGroupIndex: false));
            }
        }
        return cases.ToArray();
    }
}
