using System;

namespace Quant.Runtime.Tensors;

/// <summary>The element types of host tensors: the dtypes safetensors files store, by their safetensors names.</summary>
public enum DType
{
    /// <summary>IEEE binary32.</summary>
    F32,
    /// <summary>IEEE binary16.</summary>
    F16,
    /// <summary>bfloat16 (the upper half of a binary32).</summary>
    BF16,
    /// <summary>IEEE binary64.</summary>
    F64,
    /// <summary>FP8 E4M3 (OCP "fn": no infinities, one NaN pattern per sign).</summary>
    F8E4M3,
    /// <summary>FP8 E5M2 (IEEE-like: infinities and NaNs).</summary>
    F8E5M2,
    /// <summary>Unsigned 8-bit integers (packed quantized bytes, E8M0 scales).</summary>
    U8,
    /// <summary>Signed 8-bit integers.</summary>
    I8,
    /// <summary>Signed 16-bit integers.</summary>
    I16,
    /// <summary>Unsigned 16-bit integers.</summary>
    U16,
    /// <summary>Signed 32-bit integers.</summary>
    I32,
    /// <summary>Unsigned 32-bit integers (AFQ, GPTQ packed words).</summary>
    U32,
    /// <summary>Signed 64-bit integers.</summary>
    I64,
    /// <summary>Unsigned 64-bit integers.</summary>
    U64,
    /// <summary>Booleans, one byte each.</summary>
    Bool,
}

/// <summary>Sizes and names of <see cref="DType"/>s.</summary>
public static class DTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this DType dtype) => dtype switch
    {
        DType.F32 or DType.I32 or DType.U32 => 4,
        DType.F16 or DType.BF16 or DType.I16 or DType.U16 => 2,
        DType.F64 or DType.I64 or DType.U64 => 8,
        DType.F8E4M3 or DType.F8E5M2 or DType.U8 or DType.I8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a dtype."),
    };

    /// <summary>Whether values of this dtype convert to float32 (F32, F16, BF16, F64, the FP8s).</summary>
    public static bool IsFloat(this DType dtype) => dtype is DType.F32 or DType.F16 or DType.BF16 or DType.F64 or DType.F8E4M3 or DType.F8E5M2;

    /// <summary>The name safetensors headers use (<c>F32</c>, <c>BF16</c>, <c>F8_E4M3</c>, ...).</summary>
    public static string SafetensorsName(this DType dtype) => dtype switch
    {
        DType.F8E4M3 => "F8_E4M3",
        DType.F8E5M2 => "F8_E5M2",
        DType.Bool => "BOOL",
        _ => dtype.ToString().ToUpperInvariant(),
    };

    /// <summary>Parses a safetensors dtype name; null when it is not one this runtime reads.</summary>
    public static DType? FromSafetensorsName(string name) => name switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        "F64" => DType.F64,
        "F8_E4M3" => DType.F8E4M3,
        "F8_E5M2" => DType.F8E5M2,
        "U8" => DType.U8,
        "I8" => DType.I8,
        "I16" => DType.I16,
        "U16" => DType.U16,
        "I32" => DType.I32,
        "U32" => DType.U32,
        "I64" => DType.I64,
        "U64" => DType.U64,
        "BOOL" => DType.Bool,
        _ => null,
    };
}
