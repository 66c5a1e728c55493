using System;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Uqff;
using HqqOptimizer = Quant.Quantization.Hqq;

namespace Quant.Formats.Tests.Hqq;

/// <summary>
/// UQFF Hqq layers (type 2): the byte layout against blobs assembled field by field in the test, round trips of
/// every HQQ format with and without bias, the packing of codes along the output dimension element by element,
/// and layers as mistral.rs' own tensor program writes them along either axis.
/// </summary>
public sealed class HqqUqffTests
{
    private const uint I32Code = 2;

    public static TheoryData<string, bool> HqqFormatsWithAndWithoutBias()
    {
        var data = new TheoryData<string, bool>();
        foreach (var entry in TestFormats.All.Where(e => e.Info.Uqff == UqffLayer.Hqq))
        {
            data.Add(entry.Info.Name, false);
            data.Add(entry.Info.Name, true);
        }
        return data;
    }

    /// <summary>The shapes every check runs on: group counts that are and are not a multiple of the codes per byte or word.</summary>
    private static (int Rows, int Columns)[] Shapes(int group) => [(1, group), (3, 2 * group), (4, group), (17, 33 * group), (5, 4096 / group * group), (20, 3 * group)];

    /// <summary>
    /// The blob by hand: version, type 2, has_bias, the w_q record (U8, or I32 for 3 bits, <c>[packed rows, group]</c>,
    /// packed along the group index by the test's own bitpack), scales and zeros (F32 <c>[groups, 1]</c>), u32 ndims and
    /// the dims, u8 bits, u32 group_size, u8 axis (1), u32 optimization_steps (10), u8 round_zeros (0), u8 channel_wise (1),
    /// then the bias record.
    /// </summary>
    private static byte[] HandAssembled(QuantMatrix matrix, float[]? bias)
    {
        var info = matrix.Format;
        int bits = info.CodeBits, group = info.BlockSize, groups = matrix.Rows * (matrix.Columns / group);
        var codes = new float[groups * group];
        for (int i = 0; i < codes.Length; i++) codes[i] = HqqTestCodes.Code(matrix.Plane(0).Span, i, bits);
        var (packed, packedRows) = MistralRsHqq.Bitpack(codes, groups, group, bits);
        var blob = new Blob().U32(Blob.Version).U8(2).U8(bias is null ? 0 : 1)
            .Tensor(bits == 3 ? I32Code : Blob.U8Code, [(uint)packedRows, (uint)group], packed)
            .Tensor(Blob.F32Code, [(uint)groups, 1], matrix.Plane(1).Span)
            .Tensor(Blob.F32Code, [(uint)groups, 1], matrix.Plane(2).Span)
            .U32(2).U32((uint)matrix.Rows).U32((uint)matrix.Columns)
            .U8(bits).U32((uint)group).U8(1).U32(10).U8(0).U8(1);
        if (bias is not null) blob.Tensor(Blob.F32Code, [(uint)bias.Length], HqqTestCodes.Bytes(bias));
        return blob.ToArray();
    }

    [Theory, MemberData(nameof(HqqFormatsWithAndWithoutBias))]
    public void WriteLayer_IsTheBlobAssembledByHand(string format, bool withBias)
    {
        var entry = TestFormats.Get(format);
        ulong seed = 3400;
        foreach (var (n, k) in Shapes(entry.Info.BlockSize))
        {
            var rng = new SplitMix64(seed++);
            var matrix = TestFormats.Quantize(entry, TestData.Matrix(rng, n, k, Dist.Gaussian), n, k);
            var bias = withBias ? TestData.Matrix(rng, 1, n, Dist.Gaussian) : null;
            Check.BytesEqual(HandAssembled(matrix, bias), UqffCodec.WriteLayer(matrix, bias), $"seed {seed - 1}, {format}, {n} x {k}, {(withBias ? "bias" : "no bias")}");
        }
    }

    [Theory, MemberData(nameof(HqqFormatsWithAndWithoutBias))]
    public void Layer_WriteThenRead_RoundTripsPlanesBiasShapeAndHeader(string format, bool withBias)
    {
        var entry = TestFormats.Get(format);
        int bits = entry.Info.CodeBits, group = entry.Info.BlockSize;
        ulong seed = 3500;
        foreach (var (n, k) in Shapes(group))
        {
            var rng = new SplitMix64(seed++);
            // Random bytes: every code, and scales and zeros of every bit pattern (NaN included) travel unchanged.
            var matrix = TestFormats.RandomBytes(entry, n, k, rng);
            var bias = withBias ? TestData.Matrix(rng, 1, n, Dist.Gaussian) : null;
            if (bias is not null) bias[0] = -0f;
            string context = $"seed {seed - 1}, {format}, {n} x {k}, {(withBias ? "bias" : "no bias")}";

            var blob = UqffCodec.WriteLayer(matrix, bias);
            var back = UqffCodec.ReadQuantLayer(blob, out var biasBack);
            Assert.Same(entry.Info, back.Format);
            Assert.Equal((n, k), (back.Rows, back.Columns));
            for (int p = 0; p < 3; p++) Check.BytesEqual(matrix.Plane(p).Span, back.Plane(p).Span, $"{context}: plane {p}");
            if (bias is null) Assert.Null(biasBack);
            else Check.BitsEqual(bias, biasBack!, $"{context}: bias");

            var layer = UqffCodec.ReadLayer(blob);
            int groups = n * k / group;
            Assert.Equal(UqffLayer.Hqq, layer.Type);
            Assert.Equal((bits, group), (layer.Bits, layer.GroupSize));
            var config = Assert.IsType<HqqLayerConfig>(layer.Hqq);
            Assert.Equal(new[] { n, k }, config.Shape);
            Assert.Equal((1, (uint)HqqOptimizer.IsqSteps, false, true), (config.Axis, config.OptimizationSteps, config.RoundZeros, config.ChannelWise));
            Assert.Equal(bits == 3 ? (UqffDType)I32Code : UqffDType.U8, layer.Tensors[0].DType);
            int perWord = bits == 3 ? 10 : 8 / bits;
            Assert.Equal(new[] { (groups + perWord - 1) / perWord, group }, layer.Tensors[0].Dims);
            foreach (var tensor in layer.Tensors.Skip(1))
            {
                Assert.Equal(UqffDType.F32, tensor.DType);
                Assert.Equal(new[] { groups, 1 }, tensor.Dims);
            }
            if (bias is not null) Assert.Equal(new[] { n }, layer.Bias!.Dims);
        }
    }

    /// <summary>
    /// Code i of group m sits in packed row m mod h, slot m div h (h = ceil(groups / codes per word)), counted from the
    /// top bits; the slots past the last group are zero. A row of one group per output row makes this "two output
    /// rows per byte" for 4 bits: rows r and r + N/2.
    /// </summary>
    [Theory, MemberData(nameof(HqqFormatsWithAndWithoutBias))]
    public void Codes_ArePackedAlongTheOutputDimension_ElementByElement(string format, bool withBias)
    {
        var entry = TestFormats.Get(format);
        int bits = entry.Info.CodeBits, group = entry.Info.BlockSize;
        int perWord = bits == 3 ? 10 : 8 / bits;
        ulong seed = withBias ? 3600UL : 3650UL;
        foreach (var (n, k) in Shapes(group))
        {
            var rng = new SplitMix64(seed++);
            var matrix = TestFormats.RandomBytes(entry, n, k, rng);
            var w_q = UqffCodec.ReadLayer(UqffCodec.WriteLayer(matrix, withBias ? new float[n] : default)).Tensors[0].Data;
            int groups = n * k / group, h = (groups + perWord - 1) / perWord;
            var plane = matrix.Plane(0).Span.ToArray();
            for (int slot = 0; slot < perWord; slot++)
            {
                for (int p = 0; p < h; p++)
                {
                    int m = slot * h + p;
                    for (int i = 0; i < group; i++)
                    {
                        int expected = m < groups ? HqqTestCodes.Code(plane, m * group + i, bits) : 0;
                        int actual = bits == 3
                            ? (int)(BitConverter.ToUInt32(w_q, 4 * (p * group + i)) >> (27 - 3 * slot)) & 7
                            : w_q[p * group + i] >> (8 - bits * (slot + 1)) & ((1 << bits) - 1);
                        if (actual != expected)
                        {
                            Assert.Fail($"seed {seed - 1}, {format}, {n} x {k}: group {m} (row {m / (k / group)}), code {i} is {actual} in w_q, {expected} in the codes plane");
                        }
                    }
                }
            }
            if (bits == 3)
            {
                for (int at = 0; at < w_q.Length; at += 4) Assert.Equal(0u, BitConverter.ToUInt32(w_q, at) >> 30);
            }
        }

        if (bits == 4 && group == HqqOptimizer.DefaultGroupSize)
        {
            // One group per row: byte i of packed row r holds row r's code i in its high nibble, row r + 2's in its low one.
            var matrix = TestFormats.RandomBytes(entry, 4, group, new SplitMix64(3690));
            var w_q = UqffCodec.ReadLayer(UqffCodec.WriteLayer(matrix)).Tensors[0].Data;
            var plane = matrix.Plane(0).Span.ToArray();
            for (int r = 0; r < 2; r++)
            {
                for (int i = 0; i < group; i++)
                {
                    Assert.Equal(HqqTestCodes.Code(plane, r * group + i, 4), w_q[r * group + i] >> 4);
                    Assert.Equal(HqqTestCodes.Code(plane, (r + 2) * group + i, 4), w_q[r * group + i] & 15);
                }
            }
        }
    }

    [Fact]
    public void GeneratedUqffMethods_RoundTripAndRefuseOtherFormats()
    {
        var rng = new SplitMix64(3700);
        var hqq4 = TestFormats.RandomBytes(TestFormats.Get("hqq4_g64"), 3, 128, rng);
        var hqq3 = TestFormats.RandomBytes(TestFormats.Get("hqq3_g64"), 3, 128, rng);
        float[] bias = [1f, -2f, 3.5f];

        var back = Hqq4G64.ReadUqffLayer(Hqq4G64.WriteUqffLayer(hqq4, bias), out var biasBack);
        for (int p = 0; p < 3; p++) Check.BytesEqual(hqq4.Plane(p).Span, back.Plane(p).Span, $"hqq4_g64 generated round trip, plane {p}");
        Check.BitsEqual(bias, biasBack!, "hqq4_g64 generated bias");
        Assert.Throws<QuantFormatException>(() => Hqq4G64.ReadUqffLayer(Hqq3G64.WriteUqffLayer(hqq3), out _));
        Assert.ThrowsAny<ArgumentException>(() => Hqq4G64.WriteUqffLayer(hqq3));
    }

    /// <summary>
    /// mistral.rs' default layout (axis 0: groups run down the columns of the weight viewed as [group_size, N K / group_size])
    /// parses, is refused by every row-local format with a message that says why, and dequantizes exactly through
    /// <see cref="UqffCodec.DequantizeHqq"/>.
    /// </summary>
    [Fact]
    public void Axis0Layer_AsMistralRsWritesIt_IsRefusedAsAMatrixAndDequantizesExactly()
    {
        ulong seed = 3800;
        foreach (int bits in new[] { 1, 2, 3, 4, 8 })
        {
            foreach (var (n, k) in new[] { (64, 64), (128, 96), (40, 128) })
            {
                var rng = new SplitMix64(seed++);
                var weight = TestData.Matrix(rng, n, k, Dist.Gaussian);
                var reference = MistralRsHqq.Quantize(weight, HqqOptimizer.DefaultGroupSize, bits, axis: 0, HqqOptimizer.IsqSteps, roundZeros: false);
                byte[] blob = MistralRsBlob(reference, bits, HqqOptimizer.DefaultGroupSize, n, k, bias: null);
                string context = $"seed {seed - 1}, {bits} bits, {n} x {k}, axis 0";

                var layer = UqffCodec.ReadLayer(blob);
                Assert.Equal(0, layer.Hqq!.Axis);
                var e = Assert.Throws<QuantFormatException>(() => UqffCodec.ReadQuantLayer(blob, out _));
                Assert.Contains("axis 0", e.Message, StringComparison.Ordinal);
                Assert.Contains("DequantizeHqq", e.Message, StringComparison.Ordinal);
                Check.BitsEqual(MistralRsHqq.Dequantize(reference), UqffCodec.DequantizeHqq(layer), context, k);
            }
        }
    }

    /// <summary>A whole tensor quantized by mistral.rs' program along axis 1 (one early stop for all groups) reads back as the format's matrix.</summary>
    [Fact]
    public void Axis1Layer_AsMistralRsWritesIt_ReadsAsTheFormatAndDequantizesExactly()
    {
        ulong seed = 3900;
        foreach (var entry in TestFormats.All.Where(e => e.Info.Uqff == UqffLayer.Hqq))
        {
            int bits = entry.Info.CodeBits, group = entry.Info.BlockSize;
            var rng = new SplitMix64(seed++);
            int n = 2 * (1 + rng.NextInt(20)) * (bits == 3 ? 5 : 4), k = group * (1 + rng.NextInt(3)); // whole packed rows, as mistral.rs needs
            var weight = TestData.Matrix(rng, n, k, Dist.Gaussian);
            var bias = TestData.Matrix(rng, 1, n, Dist.Gaussian);
            var reference = MistralRsHqq.Quantize(weight, group, bits, axis: 1, HqqOptimizer.IsqSteps, roundZeros: false);
            byte[] blob = MistralRsBlob(reference, bits, group, n, k, bias);
            string context = $"seed {seed - 1}, {entry.Info.Name}, {n} x {k}, axis 1";

            var matrix = UqffCodec.ReadQuantLayer(blob, out var biasBack);
            Assert.Same(entry.Info, matrix.Format);
            Check.BitsEqual(bias, biasBack!, $"{context}: bias");
            var expected = MistralRsHqq.Dequantize(reference);
            foreach (var level in TestFormats.Levels) Check.BitsEqual(expected, TestFormats.Dequantize(entry, matrix, level), $"{context}: {level}", k);
            Check.BitsEqual(expected, UqffCodec.DequantizeHqq(UqffCodec.ReadLayer(blob)), $"{context}: DequantizeHqq", k);
            // And it is written back as the same bytes (mistral.rs' blob records 10 steps, round_zeros 0, channel_wise 1 too).
            Check.BytesEqual(blob, UqffCodec.WriteLayer(matrix, biasBack), $"{context}: rewritten");
        }
    }

    /// <summary>F16 and BF16 scales: mistral.rs' dequantization rounds after the subtraction and after the multiply.</summary>
    [Fact]
    public void DequantizeHqq_HalfPrecisionScales_RoundAfterEachOperation()
    {
        var rng = new SplitMix64(3950);
        int group = 64, groups = 6;
        var codes = new float[groups * group];
        for (int i = 0; i < codes.Length; i++) codes[i] = rng.NextInt(16);
        var scales = TestData.Matrix(rng, 1, groups, Dist.Gaussian);
        var zeros = Array.ConvertAll(TestData.Matrix(rng, 1, groups, Dist.Gaussian), z => 7.5f + 3 * z);
        var (packed, rows) = MistralRsHqq.Bitpack(codes, groups, group, 4);
        foreach (var (code, dtype) in new[] { (Blob.F16Code, UqffDType.F16), (Blob.BF16Code, UqffDType.BF16) })
        {
            var s = UqffTensor.FromSingle(scales, [groups, 1], dtype);
            var z = UqffTensor.FromSingle(zeros, [groups, 1], dtype);
            var blob = new Blob().U32(Blob.Version).U8(2).U8(0)
                .Tensor(Blob.U8Code, [(uint)rows, (uint)group], packed)
                .Tensor(code, [(uint)groups, 1], s.Data).Tensor(code, [(uint)groups, 1], z.Data)
                .U32(2).U32((uint)groups).U32((uint)group).U8(4).U32((uint)group).U8(1).U32(0).U8(0).U8(1).ToArray();
            float[] sv = s.ToSingle(), zv = z.ToSingle();
            Func<float, float> round = dtype == UqffDType.F16 ? v => (float)(Half)v : v => Blob.FromBf16Bits(Blob.Bf16Bits(v));
            var expected = new float[codes.Length];
            for (int i = 0; i < codes.Length; i++) expected[i] = round(round(codes[i] - zv[i / group]) * sv[i / group]);
            Check.BitsEqual(expected, UqffCodec.DequantizeHqq(UqffCodec.ReadLayer(blob)), $"{dtype} scales", group);
            // The format's planes are F32, which would round differently: it refuses them.
            Assert.Throws<QuantFormatException>(() => UqffCodec.ReadQuantLayer(blob, out _));
        }
    }

    /// <summary>A layer as mistral.rs' serialize_with_bias writes it, from the test's re-derivation of its tensor program.</summary>
    private static byte[] MistralRsBlob(MistralRsHqq.Result r, int bits, int group, int n, int k, float[]? bias)
    {
        var (packed, packedRows) = MistralRsHqq.Bitpack(r.Codes, r.Rows, r.Columns, bits);
        int groups = n * k / group;
        uint[] perGroup = r.Axis == 1 ? [(uint)groups, 1] : [1, (uint)groups];
        var blob = new Blob().U32(Blob.Version).U8(2).U8(bias is null ? 0 : 1)
            .Tensor(bits == 3 ? I32Code : Blob.U8Code, [(uint)packedRows, (uint)r.Columns], packed)
            .Tensor(Blob.F32Code, perGroup, HqqTestCodes.Bytes(r.Scales))
            .Tensor(Blob.F32Code, perGroup, HqqTestCodes.Bytes(r.Zero))
            .U32(2).U32((uint)n).U32((uint)k)
            .U8(bits).U32((uint)group).U8(r.Axis).U32((uint)HqqOptimizer.IsqSteps).U8(0).U8(1);
        if (bias is not null) blob.Tensor(Blob.F32Code, [(uint)n], HqqTestCodes.Bytes(bias));
        return blob.ToArray();
    }
}
