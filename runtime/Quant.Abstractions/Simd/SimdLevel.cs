using System;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quant;

/// <summary>The widest vectors a kernel uses.</summary>
public enum SimdLevel
{
    /// <summary>Plain scalar code: the reference every SIMD path is checked against.</summary>
    Scalar = 0,
    /// <summary>128-bit vectors (SSE4.1 / SSSE3 on x86, AdvSIMD on Arm).</summary>
    Vector128 = 1,
    /// <summary>256-bit vectors (AVX2).</summary>
    Vector256 = 2,
    /// <summary>512-bit vectors (AVX-512 F and BW).</summary>
    Vector512 = 3,
}

/// <summary>
/// Picks the SIMD level once, at start-up, from what the hardware and runtime accelerate. The
/// environment variable <c>QUANT_SIMD</c> (<c>scalar</c>, <c>128</c>, <c>256</c>, <c>512</c>) caps it,
/// for tests and benchmarks; the runtime's own knobs (<c>DOTNET_EnableAVX512=0</c>,
/// <c>DOTNET_EnableAVX2=0</c>, <c>DOTNET_EnableHWIntrinsic=0</c>) lower it too.
/// </summary>
public static class QuantSimd
{
    /// <summary>The widest level this process supports, capped by <c>QUANT_SIMD</c>. Kernels called without a level use it.</summary>
    public static SimdLevel Best { get; } = Detect();

    /// <summary>The widest level the hardware and runtime support, ignoring <c>QUANT_SIMD</c>.</summary>
    public static SimdLevel Supported { get; } = DetectHardware();

    /// <summary>True when <paramref name="level"/> runs at full speed here.</summary>
    public static bool IsSupported(SimdLevel level) => level <= Supported;

    /// <summary>Every level this process supports, scalar first.</summary>
    public static SimdLevel[] SupportedLevels()
    {
        var levels = new SimdLevel[(int)Supported + 1];
        for (int i = 0; i < levels.Length; i++) levels[i] = (SimdLevel)i;
        return levels;
    }

    /// <summary>Parses <c>scalar</c>, <c>128</c>, <c>256</c>, <c>512</c> (or the enum names).</summary>
    public static bool TryParse(string? text, out SimdLevel level)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "scalar" or "0": level = SimdLevel.Scalar; return true;
            case "128" or "vector128": level = SimdLevel.Vector128; return true;
            case "256" or "vector256": level = SimdLevel.Vector256; return true;
            case "512" or "vector512": level = SimdLevel.Vector512; return true;
            default: level = SimdLevel.Scalar; return false;
        }
    }

    private static SimdLevel DetectHardware()
    {
        // The 512-bit paths use byte and word instructions (AVX-512 BW); the 256-bit ones AVX2; the
        // 128-bit ones SSSE3 byte shuffles and SSE4.1 widening on x86, or AdvSIMD on Arm.
        if (Vector512.IsHardwareAccelerated && Avx512BW.IsSupported) return SimdLevel.Vector512;
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported) return SimdLevel.Vector256;
        if (Vector128.IsHardwareAccelerated && (Sse41.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported)) return SimdLevel.Vector128;
        return SimdLevel.Scalar;
    }

    private static SimdLevel Detect()
    {
        var level = DetectHardware();
        if (TryParse(Environment.GetEnvironmentVariable("QUANT_SIMD"), out var cap) && cap < level) level = cap;
        return level;
    }
}
