using System;

namespace Quant.Ggml.Tests;

/// <summary>
/// A block as logical values: codes in element order, integer scale (and min) codes, and the stored
/// super-scales as float32. A format leaves the fields it does not have empty (or 0).
/// </summary>
internal sealed class LogicalBlock
{
    public float D { get; set; }
    public float Dmin { get; set; }
    public int[] Codes { get; set; } = [];
    public int[] Scales { get; set; } = [];
    public int[] Mins { get; set; } = [];

    /// <summary>
    /// The first field where <paramref name="actual"/> differs from this (expected) block, or null.
    /// Floats are compared by bit pattern, so -0.0 and +0.0 differ.
    /// </summary>
    public string? FirstDifference(LogicalBlock actual, bool compareCodes = true)
    {
        if (Bits(D) != Bits(actual.D)) return $"d: expected {Show(D)}, got {Show(actual.D)}";
        if (Bits(Dmin) != Bits(actual.Dmin)) return $"dmin/m: expected {Show(Dmin)}, got {Show(actual.Dmin)}";
        return FirstDifference("scales", Scales, actual.Scales)
            ?? FirstDifference("mins", Mins, actual.Mins)
            ?? (compareCodes ? FirstDifference("codes", Codes, actual.Codes) : null);
    }

    private static string? FirstDifference(string name, int[] expected, int[] actual)
    {
        if (expected.Length != actual.Length) return $"{name}: expected {expected.Length} entries, got {actual.Length}";
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] != actual[i]) return $"{name}[{i}]: expected {expected[i]}, got {actual[i]}";
        }
        return null;
    }

    private static uint Bits(float value) => BitConverter.SingleToUInt32Bits(value);

    private static string Show(float value) => $"{value:R} (0x{Bits(value):X8})";
}
