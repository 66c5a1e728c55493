using System;
using Quant.Formats.Tests.Support;

namespace Quant.Runtime.Tests.Support;

/// <summary>Float64 references for the layer tests, and the tolerance they share.</summary>
internal static class Reference
{
    /// <summary><c>y = x W^T + b</c> in float64, with the per-output sum of |w x| for the tolerance.</summary>
    public static (double[] Y, double[] Abs) Linear(ReadOnlySpan<float> w, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<float> bias)
    {
        int batch = x.Length / k;
        var y = new double[batch * n];
        var abs = new double[batch * n];
        for (int b = 0; b < batch; b++)
        {
            for (int r = 0; r < n; r++)
            {
                var (dot, a) = Float64.Dot(w.Slice(r * k, k), x.Slice(b * k, k));
                double bv = bias.IsEmpty ? 0 : bias[r];
                y[b * n + r] = dot + bv;
                abs[b * n + r] = a + Math.Abs(bv);
            }
        }
        return (y, abs);
    }

    /// <summary>Asserts every output is within 1e-5 of its sum of |w x| (plus a float32 ulp of the bias and the value).</summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> abs, ReadOnlySpan<float> got, string context)
    {
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < got.Length; i++)
        {
            double tolerance = 1e-5 * abs[i] + 1e-30;
            double error = Math.Abs(got[i] - expected[i]);
            Assert.True(error <= tolerance, $"{context}: output {i} is {got[i]:R}, float64 gives {expected[i]:R}; error {error:G3} > 1e-5 x sum|wx| = {tolerance:G3}");
        }
    }
}
