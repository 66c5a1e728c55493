using System;

namespace Quant.Formats.Tests.Support;

/// <summary>The float64 references the float kernels are measured against.</summary>
internal static class Float64
{
    /// <summary>sum_j w[j] x[j] and sum_j |w[j] x[j]|, in float64, j ascending.</summary>
    public static (double Dot, double AbsSum) Dot(ReadOnlySpan<float> w, ReadOnlySpan<float> x)
    {
        if (w.Length != x.Length) throw new ArgumentException("Lengths differ.");
        double dot = 0, abs = 0;
        for (int j = 0; j < w.Length; j++)
        {
            double p = (double)w[j] * x[j];
            dot += p;
            abs += Math.Abs(p);
        }
        return (dot, abs);
    }

    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (float v in values)
        {
            if (!float.IsFinite(v)) return false;
        }
        return true;
    }
}
