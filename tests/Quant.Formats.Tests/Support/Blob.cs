using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Quant.Formats.Tests.Support;

/// <summary>Assembles UQFF bytes by hand, field by field, little-endian (DESIGN.md section 7), independently of the writer.</summary>
internal sealed class Blob
{
    private readonly List<byte> _bytes = [];

    public Blob U8(int value)
    {
        _bytes.Add(checked((byte)value));
        return this;
    }

    public Blob U32(uint value)
    {
        for (int i = 0; i < 4; i++) _bytes.Add((byte)(value >> (8 * i)));
        return this;
    }

    public Blob Raw(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) _bytes.Add(b);
        return this;
    }

    public Blob F32(ReadOnlySpan<float> values) => Raw(MemoryMarshal.AsBytes(values));

    /// <summary>A tensor record: u32 data_len, u32 dtype, u32 ndims, u32 dims[ndims], data.</summary>
    public Blob Tensor(uint dtype, uint[] dims, ReadOnlySpan<byte> data)
    {
        U32((uint)data.Length).U32(dtype).U32((uint)dims.Length);
        foreach (uint d in dims) U32(d);
        return Raw(data);
    }

    public byte[] ToArray() => [.. _bytes];

    /// <summary>UQFF 0.2.0's version word.</summary>
    public const uint Version = 0x00000200;

    /// <summary>Dtype codes of tensor records.</summary>
    public const uint U8Code = 0, F16Code = 4, BF16Code = 5, F32Code = 6;

    /// <summary>bfloat16 bits of a float32, ggml's rule: round to nearest even, a NaN becomes (u >> 16) | 0x40.</summary>
    public static ushort Bf16Bits(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFFFFFF) > 0x7F800000) return (ushort)((u >> 16) | 0x40);
        return (ushort)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
    }

    public static float FromBf16Bits(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
