using System;

namespace Quant.Formats.Tests.Support;

/// <summary>
/// A seeded generator (splitmix64) with Box-Muller normals: every test draws its inputs from one of
/// these, so a failure names the seed that reproduces it.
/// </summary>
internal sealed class SplitMix64
{
    private ulong _state;
    private double _spare;
    private bool _hasSpare;

    public SplitMix64(ulong seed)
    {
        Seed = seed;
        _state = seed;
    }

    /// <summary>The seed this generator started from (put it in assertion messages).</summary>
    public ulong Seed { get; }

    public ulong NextU64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1), 53 random bits.</summary>
    public double NextDouble() => (NextU64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, <paramref name="n"/>).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        return (int)((NextU64() >> 1) % (ulong)n);
    }

    /// <summary>Uniform in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int NextInt(int min, int max) => min + NextInt(max - min + 1);

    public bool NextBool() => (NextU64() & 1) != 0;

    public byte NextByte() => (byte)(NextU64() >> 56);

    public void NextBytes(Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = NextByte();
    }

    /// <summary>A standard normal draw (Box-Muller, both values of each pair used).</summary>
    public double NextGaussian()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spare;
        }
        double u1 = 1.0 - NextDouble(); // (0, 1]: log stays finite
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spare = r * Math.Sin(2.0 * Math.PI * u2);
        _hasSpare = true;
        return r * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>A standard Cauchy draw (ratio of two normals), clipped to +-<paramref name="clip"/>.</summary>
    public double NextCauchy(double clip = 1e4)
    {
        double den = NextGaussian();
        double value = den == 0 ? clip : NextGaussian() / den;
        return Math.Clamp(value, -clip, clip);
    }
}
