using System;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Checkpoints;

namespace Quant.Formats.Tests.Checkpoints;

/// <summary>
/// Bad checkpoints and unwritable weights: wrong shapes, <c>g_idx</c> out of range or with groups that are not whole,
/// non-finite scales, zero points a flavour cannot store, groups whose blocks disagree, impossible configurations. Each
/// gives a <see cref="QuantFormatException"/> whose message names the tensor (or the config key).
/// </summary>
public sealed class GptqCorruptInputTests
{
    // 4-bit GPTQ v1 with act-order: K = 192 in 3 groups of 64, N = 64.
    private static SyntheticGptq Valid() => GptqCases.Build(new GptqCase(GptqFlavor.GptqV1, 4, 64, true, 192, 64).ToString());

    private static SyntheticGptq ValidAwq() => GptqCases.Build(new GptqCase(GptqFlavor.Awq, 4, 64, false, 192, 64).ToString());

    private static void AssertRejected(GptqConfig config, GptqTensors tensors, string names)
    {
        var error = Assert.Throws<QuantFormatException>(() => GptqWeight.FromCheckpoint(config, tensors));
        Assert.Contains(names, error.Message, StringComparison.Ordinal);
    }

    private static CheckpointTensor<T> Reshape<T>(CheckpointTensor<T> tensor, params int[] shape) where T : unmanaged => new(tensor.Data, shape);

    private static CheckpointTensor<T> Resize<T>(CheckpointTensor<T> tensor, int length, params int[] shape) where T : unmanaged
    {
        var data = new T[length];
        tensor.Data.Span.Slice(0, Math.Min(length, tensor.Data.Length)).CopyTo(data);
        return new CheckpointTensor<T>(data, shape);
    }

    [Fact]
    public void QWeight_WithAnExtraRow_IsRejected()
    {
        var c = Valid();
        var q = c.Tensors.QWeight;
        AssertRejected(c.Config, c.Tensors with { QWeight = Resize(q, (q.Shape[0] + 1) * q.Shape[1], q.Shape[0] + 1, q.Shape[1]) }, "'qweight'");
    }

    [Fact]
    public void QWeight_OfThreeDims_IsRejected()
    {
        var c = Valid();
        var q = c.Tensors.QWeight;
        AssertRejected(c.Config, c.Tensors with { QWeight = Reshape(q, 1, q.Shape[0], q.Shape[1]) }, "'qweight'");
    }

    [Fact]
    public void QWeight_HoldingFewerElementsThanItsShape_IsRejected()
    {
        var c = Valid();
        var q = c.Tensors.QWeight;
        AssertRejected(c.Config, c.Tensors with { QWeight = new CheckpointTensor<int>(q.Data[..^1], q.Shape[0], q.Shape[1]) }, "'qweight'");
    }

    [Fact]
    public void QWeight_OfAwqInGptqLayout_IsRejected()
    {
        // AWQ's qweight is [K, N / 8]; read as GPTQ it gives another K and N, and the other tensors no longer fit.
        var c = ValidAwq();
        AssertRejected(GptqConfig.GptqV2(4, 64), c.Tensors, "'q");
    }

    [Fact]
    public void QZeros_WithAnExtraGroupOrColumn_IsRejected()
    {
        var c = Valid();
        var z = c.Tensors.QZeros;
        AssertRejected(c.Config, c.Tensors with { QZeros = Resize(z, (z.Shape[0] + 1) * z.Shape[1], z.Shape[0] + 1, z.Shape[1]) }, "'qzeros'");
        AssertRejected(c.Config, c.Tensors with { QZeros = Resize(z, z.Shape[0] * (z.Shape[1] + 1), z.Shape[0], z.Shape[1] + 1) }, "'qzeros'");
    }

    [Fact]
    public void Scales_WithTheWrongShape_AreRejected()
    {
        var c = Valid();
        var s = c.Tensors.Scales;
        AssertRejected(c.Config, c.Tensors with { Scales = Reshape(s, s.Shape[1], s.Shape[0]) }, "'scales'");
        AssertRejected(c.Config, c.Tensors with { Scales = Resize(s, s.Shape[0] * (s.Shape[1] + 8), s.Shape[0], s.Shape[1] + 8) }, "'scales'");
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Scales_ThatAreNotFinite_AreRejected(float value)
    {
        var c = Valid();
        var data = c.Tensors.Scales.Data.ToArray();
        data[77] = (Half)value;
        AssertRejected(c.Config, c.Tensors with { Scales = new CheckpointTensor<Half>(data, c.Groups, c.N) }, "'scales'");
    }

    [Fact]
    public void GIdx_OfTheWrongLength_IsRejected()
    {
        var c = Valid();
        AssertRejected(c.Config, c.Tensors with { GIdx = Resize(c.Tensors.GIdx!, c.K - 1, c.K - 1) }, "'g_idx'");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(3)]
    [InlineData(int.MaxValue)]
    public void GIdx_OutOfRange_IsRejected(int value)
    {
        var c = Valid();
        var data = c.Tensors.GIdx!.Data.ToArray();
        data[100] = value;
        AssertRejected(c.Config, c.Tensors with { GIdx = new CheckpointTensor<int>(data, c.K) }, "'g_idx'");
    }

    [Fact]
    public void GIdx_WithGroupsThatAreNotWhole_IsRejected()
    {
        var c = Valid();
        var data = c.Tensors.GIdx!.Data.ToArray();
        data[Array.IndexOf(data, 0)] = 1;
        AssertRejected(c.Config, c.Tensors with { GIdx = new CheckpointTensor<int>(data, c.K) }, "'g_idx'");
    }

    [Fact]
    public void GIdx_InAnAwqCheckpoint_IsRejected()
    {
        var c = ValidAwq();
        var trivial = new int[c.K];
        for (int k = 0; k < c.K; k++) trivial[k] = k / c.Group;
        AssertRejected(c.Config, c.Tensors with { GIdx = new CheckpointTensor<int>(trivial, c.K) }, "'g_idx'");
    }

    [Theory]
    [InlineData(GptqFlavor.GptqV1, 5, 64, "bits")]
    [InlineData(GptqFlavor.GptqV2, 1, 64, "bits")]
    [InlineData(GptqFlavor.Awq, 8, 64, "bits")]
    [InlineData(GptqFlavor.GptqV1, 4, 0, "group_size")]
    [InlineData(GptqFlavor.GptqV1, 4, -2, "group_size")]
    [InlineData(GptqFlavor.GptqV1, 4, 16, "groups of 16")]
    [InlineData((GptqFlavor)7, 4, 64, "flavour")]
    public void Config_ThatNoCheckpointHas_IsRejected(GptqFlavor flavor, int bits, int groupSize, string names)
        => AssertRejected(new GptqConfig(flavor, bits, groupSize), Valid().Tensors, names);

    [Fact]
    public void Gptq3Bit_WithOutputsThatDoNotFillZeroWords_IsRejected()
    {
        // 3-bit zero points of 48 outputs are 144 bits: not whole int32 words of qzeros.
        var qweight = new CheckpointTensor<int>(new int[3 * 48], 3, 48);
        var tensors = new GptqTensors(qweight, new CheckpointTensor<int>(new int[5], 1, 5), new CheckpointTensor<Half>(new Half[48], 1, 48));
        AssertRejected(GptqConfig.GptqV2(3, -1), tensors, "'qzeros'");
    }

    [Fact]
    public void MissingTensors_AreNamed()
    {
        var c = Valid();
        AssertRejected(c.Config, c.Tensors with { QZeros = null! }, "'qzeros'");
        AssertRejected(c.Config, c.Tensors with { Scales = null! }, "'scales'");
        AssertRejected(c.Config, c.Tensors with { QWeight = null! }, "'qweight'");
    }

    // ---- writing --------------------------------------------------------------------------------

    private static GptqWeight Quantized(string format, int rows = 16, int blocks = 4, ulong seed = 23)
    {
        var entry = TestFormats.Get(format);
        int k = entry.Info.BlockSize * blocks;
        return new GptqWeight(FormatKernels.For(entry).Quantize(TestData.Matrix(new SplitMix64(seed), rows, k, Dist.Gaussian), rows, k));
    }

    private static void SetZero(GptqWeight weight, int row, int block, float zero)
    {
        var plane = weight.Matrix.Plane(2).Span;
        int at = (row * (weight.InFeatures / weight.Matrix.Format.BlockSize) + block) * 2;
        BitConverter.TryWriteBytes(plane.Slice(at, 2), BitConverter.HalfToUInt16Bits((Half)zero));
    }

    private static void AssertWriteRejected(GptqWeight weight, GptqConfig config, string names, bool? groupIndex = null)
    {
        var error = Assert.Throws<QuantFormatException>(() => weight.ToCheckpoint(config, groupIndex));
        Assert.Contains(names, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(GptqFlavor.GptqV2, 16f)]
    [InlineData(GptqFlavor.GptqV2, -1f)]
    [InlineData(GptqFlavor.GptqV1, 0f)]
    [InlineData(GptqFlavor.GptqV1, 17f)]
    [InlineData(GptqFlavor.Awq, 16f)]
    [InlineData(GptqFlavor.GptqV2, 2.5f)]
    [InlineData(GptqFlavor.GptqV2, float.NaN)]
    [InlineData(GptqFlavor.GptqV2, float.PositiveInfinity)]
    public void ZeroPoint_OutOfTheFlavorsRange_IsRejectedOnWrite(GptqFlavor flavor, float zero)
    {
        var weight = Quantized("gptq4_g32", blocks: 1);
        SetZero(weight, 5, 0, zero);
        AssertWriteRejected(weight, new GptqConfig(flavor, 4, 32), "'qzeros'");
    }

    [Fact]
    public void ZeroPoint_AtEitherEndOfTheFlavorsRange_IsWritten()
    {
        var weight = Quantized("gptq4_g32", blocks: 1);
        SetZero(weight, 5, 0, 16f);
        Assert.Equal(16f, ZeroOf(GptqWeight.FromCheckpoint(GptqConfig.GptqV1(4, 32), weight.ToCheckpoint(GptqConfig.GptqV1(4, 32))), 5, 0));
        SetZero(weight, 5, 0, 0f);
        Assert.Equal(0f, ZeroOf(GptqWeight.FromCheckpoint(GptqConfig.GptqV2(4, 32), weight.ToCheckpoint(GptqConfig.GptqV2(4, 32))), 5, 0));
    }

    private static float ZeroOf(GptqWeight weight, int row, int block)
    {
        int at = (row * (weight.InFeatures / weight.Matrix.Format.BlockSize) + block) * 2;
        return (float)BitConverter.ToHalf(weight.Matrix.Plane(2).Span.Slice(at, 2));
    }

    [Fact]
    public void PerChannelWrite_OfBlocksWithDifferentScales_IsRejected()
        => AssertWriteRejected(Quantized("gptq4_g32"), GptqConfig.GptqV2(4, -1), "'scales'");

    [Fact]
    public void GroupWrite_OfBlocksThatDifferOnlyInTheZeroPoint_IsRejected()
    {
        var weight = Quantized("gptq8_g32", blocks: 2);
        // Make row 3's two blocks share a scale but not a zero point, so only qzeros can be at fault.
        var scales = weight.Matrix.Plane(1).Span;
        scales.Slice(3 * 4, 2).CopyTo(scales.Slice(3 * 4 + 2, 2));
        for (int r = 0; r < weight.OutFeatures; r++)
        {
            if (r == 3) continue;
            scales.Slice(r * 4, 2).CopyTo(scales.Slice(r * 4 + 2, 2));
            weight.Matrix.Plane(2).Span.Slice(r * 4, 2).CopyTo(weight.Matrix.Plane(2).Span.Slice(r * 4 + 2, 2));
        }
        SetZero(weight, 3, 0, 10f);
        SetZero(weight, 3, 1, 11f);
        AssertWriteRejected(weight, GptqConfig.GptqV2(8, 64), "'qzeros'");
    }

    [Fact]
    public void ScaleThatIsNotFinite_IsRejectedOnWrite()
    {
        var weight = Quantized("gptq2_g64", blocks: 1);
        BitConverter.TryWriteBytes(weight.Matrix.Plane(1).Span.Slice(6, 2), BitConverter.HalfToUInt16Bits(Half.PositiveInfinity));
        AssertWriteRejected(weight, GptqConfig.GptqV2(2, 64), "'scales'");
    }

    [Fact]
    public void GroupsThatAreNotWholeBlocks_OrAnotherBitWidth_AreRejectedOnWrite()
    {
        var weight = Quantized("gptq4_g128", blocks: 2);
        AssertWriteRejected(weight, GptqConfig.GptqV2(4, 64), "group_size");
        AssertWriteRejected(weight, GptqConfig.GptqV2(8, 128), "bits");
    }

    [Fact]
    public void PermutedWeight_WithoutGIdxOrAsAwq_IsRejectedOnWrite()
    {
        var plain = Quantized("gptq4_g64", blocks: 2);
        var order = new int[plain.InFeatures];
        for (int i = 0; i < order.Length; i++) order[i] = order.Length - 1 - i;
        var permuted = new GptqWeight(plain.Matrix, order);
        AssertWriteRejected(permuted, GptqConfig.Awq(64), "'g_idx'");
        AssertWriteRejected(permuted, GptqConfig.GptqV2(4, 64), "'g_idx'", groupIndex: false);
        Assert.Throws<ArgumentException>(() => plain.ToCheckpoint(GptqConfig.Awq(64), groupIndex: true));
    }

    [Fact]
    public void AwqWrite_OfOutputsThatDoNotFillAWord_IsRejected()
        => AssertWriteRejected(Quantized("gptq4_g32", rows: 4), GptqConfig.Awq(32), "'qzeros'");

    [Fact]
    public void WeightOverAMatrixOfAnotherFormat_OrABadOrder_IsRefused()
    {
        var q4 = FormatKernels.For("q4_0").Quantize(new float[64], 2, 32);
        Assert.Throws<ArgumentException>(() => new GptqWeight(q4));
        var weight = Quantized("gptq3_g32", blocks: 1);
        Assert.Throws<ArgumentException>(() => new GptqWeight(weight.Matrix, new int[31]));
        var duplicate = new int[32];
        Assert.Throws<ArgumentException>(() => new GptqWeight(weight.Matrix, duplicate));
        Assert.Throws<InvalidOperationException>(() => weight.ToCheckpoint());
    }
}
