using System;
using System.Globalization;

namespace Quant;

/// <summary>A bfloat16 value: the top 16 bits of a float32. Conversions round to nearest-even (ggml's rule).</summary>
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    /// <summary>Wraps a raw bit pattern.</summary>
    public BFloat16(ushort bits) => RawValue = bits;

    /// <summary>The raw bit pattern.</summary>
    public ushort RawValue { get; }

    /// <summary>Rounds a float32 to bfloat16.</summary>
    public static explicit operator BFloat16(float value) => new(Numerics.Bf16.FromSingle(value));

    /// <summary>Widens exactly to float32.</summary>
    public static explicit operator float(BFloat16 value) => Numerics.Bf16.ToSingle(value.RawValue);

    /// <inheritdoc/>
    public bool Equals(BFloat16 other) => RawValue == other.RawValue;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => RawValue;

    /// <summary>Bitwise equality.</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => left.Equals(right);

    /// <summary>Bitwise inequality.</summary>
    public static bool operator !=(BFloat16 left, BFloat16 right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);
}
