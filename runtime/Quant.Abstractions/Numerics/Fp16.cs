using System;
using System.Runtime.CompilerServices;

namespace Quant.Numerics;

/// <summary>IEEE binary16 bit patterns to and from float32, as scales are stored in ggml blocks.</summary>
public static class Fp16
{
    // 2^112: moves a binary16 exponent (bias 15) placed in a binary32 (bias 127) to its value.
    private const float TwoPow112 = 5192296858534827628530496329220096f;

    /// <summary>Decodes a binary16 bit pattern exactly (subnormals, infinities and NaN included).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort half)
    {
        uint sign = (uint)(half & 0x8000) << 16;
        uint magnitude = (uint)(half & 0x7FFF) << 13;
        // Multiplying by 2^112 rebiases the exponent and normalises binary16 subnormals, exactly.
        float value = BitConverter.UInt32BitsToSingle(magnitude) * TwoPow112;
        uint bits = (half & 0x7C00) == 0x7C00 ? magnitude | 0x7F800000u : BitConverter.SingleToUInt32Bits(value);
        return BitConverter.UInt32BitsToSingle(bits | sign);
    }

    /// <summary>Encodes a float32 as binary16, rounding to nearest-even; overflow gives infinity.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>Reads a little-endian binary16 at <paramref name="source"/> as float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ref byte source) => ToSingle(Unsafe.ReadUnaligned<ushort>(ref source));

    /// <summary>Writes <paramref name="value"/> as a little-endian binary16 at <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(ref byte destination, float value) => Unsafe.WriteUnaligned(ref destination, FromSingle(value));
}

/// <summary>OCP MX E8M0 scales: an unsigned power-of-two exponent with bias 127.</summary>
public static class E8M0
{
    /// <summary>
    /// Decodes <paramref name="exponent"/> to <c>2^(exponent - 127 + log2Factor)</c>, exactly, as a
    /// subnormal where it is one. 255 decodes as a power of two too (no NaN), as ggml does.
    /// </summary>
    /// <param name="exponent">The stored byte.</param>
    /// <param name="log2Factor">A power of two folded into the scale (-1 gives ggml's half scale).</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(byte exponent, int log2Factor = 0)
    {
        int p = exponent - 127 + log2Factor;
        if (p >= -126) return BitConverter.UInt32BitsToSingle((uint)Math.Min(p + 127, 255) << 23);
        return p >= -149 ? BitConverter.UInt32BitsToSingle(1u << (p + 149)) : 0f;
    }
}

/// <summary>bfloat16 bit patterns to and from float32, with ggml's rounding.</summary>
public static class Bf16
{
    /// <summary>Rounds to nearest-even; a NaN stays a (quiet) NaN. Subnormals are kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (ushort)((u >> 16) | 0x40);
        return (ushort)((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
    }

    /// <summary>Decodes exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Reads a little-endian bfloat16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ref byte source) => ToSingle(Unsafe.ReadUnaligned<ushort>(ref source));

    /// <summary>Writes a little-endian bfloat16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(ref byte destination, float value) => Unsafe.WriteUnaligned(ref destination, FromSingle(value));
}

/// <summary>Little-endian float32 fields.</summary>
public static class Fp32
{
    /// <summary>Reads a little-endian float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ref byte source) => Unsafe.ReadUnaligned<float>(ref source);

    /// <summary>Writes a little-endian float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(ref byte destination, float value) => Unsafe.WriteUnaligned(ref destination, value);
}
