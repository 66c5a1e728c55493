using System;
using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Gguf;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>GGUF files with every metadata type, nested arrays and tensors of several formats, written by Quant's writer.</summary>
internal static class GgufSamples
{
    public static GgufMetadata RichMetadata(int alignment = 64) => new GgufMetadata()
        .Add("general.architecture", "llama")
        .Add("general.alignment", (uint)alignment)
        .Add("test.u8", (byte)200)
        .Add("test.i8", (sbyte)-100)
        .Add("test.u16", (ushort)60000)
        .Add("test.i16", (short)-30000)
        .Add("test.u32", 4000000000u)
        .Add("test.i32", -2000000000)
        .Add("test.f32", 0.1f)
        .Add("test.bool", true)
        .Add("test.string", "h\u00e9llo \u2603 \U0001F600")
        .Add("test.u64", ulong.MaxValue)
        .Add("test.i64", long.MinValue)
        .Add("test.f64", Math.E)
        .Add("test.array.u8", GgufArray.Of(new byte[] { 0, 1, 255 }))
        .Add("test.array.i8", GgufArray.Of(new sbyte[] { -128, 0, 127 }))
        .Add("test.array.u16", GgufArray.Of(new ushort[] { 0, 65535 }))
        .Add("test.array.i16", GgufArray.Of(new short[] { -32768, 32767 }))
        .Add("test.array.u32", GgufArray.Of(new uint[] { 0, uint.MaxValue }))
        .Add("test.array.i32", GgufArray.Of(new[] { 1, -2, 3 }))
        .Add("test.array.f32", GgufArray.Of(new[] { 1.5f, -0.25f, float.Epsilon }))
        .Add("test.array.bool", GgufArray.Of(new[] { true, false, true }))
        .Add("test.array.u64", GgufArray.Of(new[] { ulong.MaxValue, 0UL }))
        .Add("test.array.i64", GgufArray.Of(new[] { long.MinValue, 1L }))
        .Add("test.array.f64", GgufArray.Of(new[] { Math.PI, -0.0 }))
        .Add("test.array.string", GgufArray.Of("a", "", "\u00fc\u00df", "tokens with spaces"))
        .Add("test.array.empty", GgufArray.Of(Array.Empty<int>()))
        .Add("test.array.nested", GgufArray.Of(
            GgufArray.Of(new[] { 1, 2 }),
            GgufArray.Of("x", "yz"),
            GgufArray.Of(GgufArray.Of(new[] { 0.5f }), GgufArray.Of(Array.Empty<string>()))))
        .Add("tokenizer.ggml.tokens", GgufArray.Of(Tokens(300)));

    public static string[] Tokens(int count)
    {
        var tokens = new string[count];
        for (int i = 0; i < count; i++) tokens[i] = i % 7 == 0 ? "" : $"tok{i}";
        return tokens;
    }

    /// <summary>Tensors of F32, F16, BF16, q8_0, q4_0, q4_K and mxfp4_ggml, with their bytes (quantized from seeded Gaussians).</summary>
    public static List<(GgufTensorSpec Spec, byte[] Bytes)> Tensors(ulong seed, int rows = 3)
    {
        QuantCatalog.EnsureRegistered();
        var rng = new SplitMix64(seed);
        var result = new List<(GgufTensorSpec, byte[])>();
        foreach (var (name, type, columns) in new[] { ("a.f32", "f32", 40), ("b.f16", "f16", 33), ("c.bf16", "bf16", 8), ("d.q8_0", "q8_0", 64),
                     ("e.q4_0", "q4_0", 32), ("f.q4_K", "q4_K", 256), ("g.mxfp4", "mxfp4_ggml", 64) })
        {
            var values = new float[rows * columns];
            for (int i = 0; i < values.Length; i++) values[i] = (float)rng.NextGaussian();
            var t = GgufTensorType.Get(type);
            byte[] bytes = t.Format is null
                ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray()
                : FormatKernels.For(t.Format).Quantize(values, rows, columns).Plane(0).ToArray();
            result.Add((GgufTensorSpec.Matrix(name, rows, columns, t), bytes));
        }
        // A 3-D and a 1-D tensor too.
        var cube = new float[2 * 3 * 4];
        for (int i = 0; i < cube.Length; i++) cube[i] = i;
        result.Add((new GgufTensorSpec("h.cube", [4, 3, 2], GgufTensorType.F32), System.Runtime.InteropServices.MemoryMarshal.AsBytes(cube.AsSpan()).ToArray()));
        result.Add((GgufTensorSpec.Vector("i.norm", 5, GgufTensorType.F32), new byte[20]));
        return result;
    }

    public static void Write(string path, GgufMetadata metadata, List<(GgufTensorSpec Spec, byte[] Bytes)> tensors)
    {
        using var writer = GgufWriter.Create(path, metadata, tensors.ConvertAll(t => t.Spec));
        foreach (var (spec, bytes) in tensors) writer.WriteTensor(spec.Name, bytes);
        writer.Commit();
    }
}
