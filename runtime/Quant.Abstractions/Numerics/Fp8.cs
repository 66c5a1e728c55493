using System;
using System.Runtime.CompilerServices;

namespace Quant.Numerics;

/// <summary>OCP FP8 E4M3 (bias 7, no infinities, S.1111.111 is NaN), as used for scales (NVFP4) and weights.</summary>
public readonly struct E4M3 : IMinifloatSpec
{
    /// <inheritdoc/>
    public static int ExponentBits => 4;

    /// <inheritdoc/>
    public static int MantissaBits => 3;

    /// <inheritdoc/>
    public static int Bias => 7;

    /// <inheritdoc/>
    public static MinifloatSpecials Specials => MinifloatSpecials.NanOnly;

    /// <summary>The largest finite value, 448.</summary>
    public const float MaxValue = 448f;

    private static readonly float[] s_values = CreateTable();

    /// <summary>Decodes a code exactly (a table lookup).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(byte code) => s_values[code];

    /// <summary>Encodes with round-to-nearest-even, saturating at +-448 (NaN stays NaN).</summary>
    public static byte FromSingle(float value) => (byte)Minifloat.Encode<E4M3>(value, MinifloatOverflow.Saturate);

    private static float[] CreateTable()
    {
        var table = new float[256];
        for (int i = 0; i < 256; i++) table[i] = Minifloat.Decode<E4M3>(i);
        return table;
    }
}
