using System;
using System.Collections.Generic;

namespace Quant.Ggml.Tests;

/// <summary>
/// Quantizing a block that is already on the format's grid (a dequantized block). The closed-form rules
/// reproduce it exactly; ggml's searches do not always (a symmetric grid that reaches +nmax*d as well as
/// -nmax*d may swap its scale's sign, and a search may find a nearby scale with a better weighted fit), but
/// they never move it by more than quantization moved the original.
/// </summary>
public sealed class RequantizationTests
{
    private const int Trials = 300;

    /// <summary>Types whose quantizer is a fixed point on its own grid (with importance or, if false, only without).</summary>
    public static IEnumerable<object[]> StableTypes() =>
    [
        ["q4_0", true], ["q5_0", true], ["q4_1", false], ["q5_1", false], ["q6_K", false],
    ];

    public static IEnumerable<object[]> Types() => TestData.TypeData();

    [Theory]
    [MemberData(nameof(StableTypes))]
    public void Requantize_Dequantized_ReproducesTheSameValues(string type, bool withImportance)
    {
        int n = TestData.BlockSize(type);
        var rng = new Random(31337);
        foreach (bool useImportance in withImportance ? new[] { false, true } : new[] { false })
        {
            for (int t = 0; t < Trials; t++)
            {
                float[] x = Gaussian(rng, n);
                float[] importance = useImportance ? LogNormal(rng, n) : [];
                float[] y = Dequantizer.Dequantize(type, Quantizers.Quantize(type, x, importance, x));
                float[] y2 = Dequantizer.Dequantize(type, Quantizers.Quantize(type, y, importance, y));
                for (int i = 0; i < n; i++)
                {
                    // == rather than bit equality: a swapped scale sign turns a code-0 value from 0 into -0.
                    Assert.True(y[i] == y2[i], $"{type} (importance: {useImportance}) trial {t}, value {i}: {y[i]:R} became {y2[i]:R}");
                }
            }
        }
    }

    [Fact]
    public void Q8_K_Requantize_Dequantized_KeepsCodesUpToSignAndScaleWithinOneUlp()
    {
        var rng = new Random(4242);
        for (int t = 0; t < Trials; t++)
        {
            float[] x = Gaussian(rng, 256);
            LogicalBlock first = Quantizers.Quantize("q8_K", x, [], x);
            float[] y = Dequantizer.Dequantize("q8_K", first);
            LogicalBlock second = Quantizers.Quantize("q8_K", y, [], y);
            // A value at +127 d ties in magnitude with the extreme -127 d; the first of them becomes the new
            // extreme, which may negate d and every code.
            int sign = Math.Sign(first.D) == Math.Sign(second.D) ? 1 : -1;
            for (int i = 0; i < 256; i++) Assert.True(first.Codes[i] == sign * second.Codes[i], $"trial {t}, code {i}: {first.Codes[i]} became {second.Codes[i]}");
            // d = 1 / (-127 / max); the dequantized max is d * -127, so |d| comes back within one rounding.
            int ulps = Math.Abs(BitConverter.SingleToInt32Bits(Math.Abs(first.D)) - BitConverter.SingleToInt32Bits(Math.Abs(second.D)));
            Assert.True(ulps <= 1, $"trial {t}: d {first.D:R} became {second.D:R}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Requantize_Dequantized_MovesLessThanTheFirstQuantization(string type)
    {
        int n = TestData.BlockSize(type);
        var rng = new Random(2718);
        foreach (bool useImportance in TestData.TakesImportance(type) ? new[] { false, true } : new[] { false })
        {
            for (int t = 0; t < Trials; t++)
            {
                float[] x = Gaussian(rng, n);
                float[] importance = useImportance ? LogNormal(rng, n) : [];
                float[] y = Dequantizer.Dequantize(type, Quantizers.Quantize(type, x, importance, x));
                float[] y2 = Dequantizer.Dequantize(type, Quantizers.Quantize(type, y, importance, y));
                double first = SquaredDistance(x, y), second = SquaredDistance(y, y2);
                // Observed worst ratio of the distances over these trials is about 1.15 (q5_1 with importance).
                Assert.True(second <= 1.5 * 1.5 * first, $"{type} (importance: {useImportance}) trial {t}: moved {Math.Sqrt(second):G4}, first quantization {Math.Sqrt(first):G4}");
            }
        }
    }

    private static double SquaredDistance(float[] a, float[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        return sum;
    }

    private static float[] Gaussian(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = TestData.Gauss(rng);
        return x;
    }

    private static float[] LogNormal(Random rng, int n)
    {
        var w = new float[n];
        for (int i = 0; i < n; i++) w[i] = MathF.Exp(TestData.Gauss(rng));
        return w;
    }
}
