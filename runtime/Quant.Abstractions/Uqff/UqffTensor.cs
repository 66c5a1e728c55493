using System;
using System.Globalization;
using System.Runtime.InteropServices;
using Quant.Numerics;

namespace Quant.Uqff;

/// <summary>Element types of a UQFF tensor record (the <c>u32 dtype</c> field).</summary>
public enum UqffDType : uint
{
    /// <summary>Unsigned bytes.</summary>
    U8 = 0,
    /// <summary>Unsigned 32-bit integers.</summary>
    U32 = 1,
    /// <summary>Signed 32-bit integers.</summary>
    I32 = 2,
    /// <summary>Signed 64-bit integers.</summary>
    I64 = 3,
    /// <summary>IEEE binary16.</summary>
    F16 = 4,
    /// <summary>bfloat16.</summary>
    BF16 = 5,
    /// <summary>IEEE binary32.</summary>
    F32 = 6,
    /// <summary>IEEE binary64.</summary>
    F64 = 7,
    /// <summary>Signed 16-bit integers.</summary>
    I16 = 8,
    /// <summary>OCP FP8 E4M3.</summary>
    F8E4M3 = 9,
}

/// <summary>One tensor record of a UQFF layer blob: <c>u32 data_len, u32 dtype, u32 ndims, u32 dims[ndims], data</c>.</summary>
public sealed class UqffTensor
{
    /// <summary>Creates a record, checking that the data length matches the shape.</summary>
    /// <exception cref="QuantFormatException">It does not.</exception>
    public UqffTensor(UqffDType dtype, int[] dims, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(dims);
        ArgumentNullException.ThrowIfNull(data);
        long expected = ElementCountOf(dims) * ElementSize(dtype);
        if (expected != data.Length)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"A {dtype} tensor of shape [{string.Join(", ", dims)}] holds {expected} bytes, not {data.Length}."));
        }
        DType = dtype;
        Dims = dims;
        Data = data;
    }

    /// <summary>The element type.</summary>
    public UqffDType DType { get; }

    /// <summary>The shape, slowest dimension first (<c>[N, K]</c>).</summary>
    public int[] Dims { get; }

    /// <summary>The raw little-endian data.</summary>
    public byte[] Data { get; }

    /// <summary>Elements in the tensor.</summary>
    public long ElementCount => ElementCountOf(Dims);

    /// <summary>A float tensor from <paramref name="values"/>, stored as <paramref name="dtype"/> (F32, F16 or BF16).</summary>
    public static UqffTensor FromSingle(ReadOnlySpan<float> values, int[] dims, UqffDType dtype = UqffDType.F32)
    {
        var data = new byte[values.Length * ElementSize(dtype)];
        switch (dtype)
        {
            case UqffDType.F32:
                MemoryMarshal.AsBytes(values).CopyTo(data);
                break;
            case UqffDType.F16:
                for (int i = 0; i < values.Length; i++) Fp16.Write(ref data[2 * i], values[i]);
                break;
            case UqffDType.BF16:
                for (int i = 0; i < values.Length; i++) Bf16.Write(ref data[2 * i], values[i]);
                break;
            default:
                throw new ArgumentException($"Float tensors are stored as F32, F16 or BF16, not {dtype}.", nameof(dtype));
        }
        return new UqffTensor(dtype, dims, data);
    }

    /// <summary>The elements as float32 (exact for F16, BF16 and F32; F64 rounds).</summary>
    /// <exception cref="QuantFormatException">The tensor is not a float tensor.</exception>
    public float[] ToSingle()
    {
        int count = checked((int)ElementCount);
        var result = new float[count];
        switch (DType)
        {
            case UqffDType.F32:
                MemoryMarshal.Cast<byte, float>(Data).CopyTo(result);
                break;
            case UqffDType.F16:
                for (int i = 0; i < count; i++) result[i] = Fp16.Read(ref Data[2 * i]);
                break;
            case UqffDType.BF16:
                for (int i = 0; i < count; i++) result[i] = Bf16.Read(ref Data[2 * i]);
                break;
            case UqffDType.F64:
                var doubles = MemoryMarshal.Cast<byte, double>(Data);
                for (int i = 0; i < count; i++) result[i] = (float)doubles[i];
                break;
            default:
                throw new QuantFormatException($"A {DType} tensor is not a float tensor.");
        }
        return result;
    }

    /// <summary>Bytes per element of <paramref name="dtype"/>.</summary>
    public static int ElementSize(UqffDType dtype) => dtype switch
    {
        UqffDType.U8 or UqffDType.F8E4M3 => 1,
        UqffDType.F16 or UqffDType.BF16 or UqffDType.I16 => 2,
        UqffDType.U32 or UqffDType.I32 or UqffDType.F32 => 4,
        UqffDType.I64 or UqffDType.F64 => 8,
        _ => throw new QuantFormatException($"Unknown UQFF dtype {(uint)dtype}."),
    };

    internal static long ElementCountOf(int[] dims)
    {
        long count = 1;
        foreach (int d in dims)
        {
            if (d < 0) throw new QuantFormatException($"A tensor dimension cannot be {d}.");
            count = checked(count * d);
        }
        return count;
    }
}
