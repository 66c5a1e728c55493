using System;
using System.Linq;
using Quant.Formats.Tests.Support;

namespace Quant.Formats.Tests.Hqq;

/// <summary>
/// HQQ dequantization against a float64 reference that reads the planes itself: <c>y = (q - zero) * scale</c>. The
/// float32 kernels round twice (after the subtraction, after the multiply), so every value is within 2^-23 of the
/// exact one, relatively; and every SIMD level gives mistral.rs' float32 <c>(q - z) * s</c> bit for bit.
/// </summary>
public sealed class HqqDequantizeTests
{
    public static TheoryData<string> HqqFormatNames()
    {
        var data = new TheoryData<string>();
        foreach (var entry in TestFormats.All.Where(e => e.Info.Uqff == UqffLayer.Hqq)) data.Add(entry.Info.Name);
        return data;
    }

    [Theory, MemberData(nameof(HqqFormatNames))]
    public void Dequantize_EveryLevel_MatchesFloat64Reference(string format)
    {
        var entry = TestFormats.Get(format);
        int bits = entry.Info.CodeBits, group = entry.Info.BlockSize;
        var failures = new FailureLog();
        ulong seed = 4000;
        foreach (var (n, k) in new[] { (1, group), (3, 5 * group), (7, 4096) })
        {
            var rng = new SplitMix64(seed++);
            var matrix = new QuantMatrix(entry.Info, n, k);
            rng.NextBytes(matrix.Plane(0).Span);
            int groups = n * k / group;
            // Scales over sixteen binades of either sign; zero points inside and beyond the code range, with fractions.
            var scales = new float[groups];
            var zeros = new float[groups];
            for (int g = 0; g < groups; g++)
            {
                scales[g] = (float)(rng.NextGaussian() * Math.Pow(2, rng.NextInt(-8, 8)));
                zeros[g] = (float)((rng.NextDouble() * 3 - 1) * (1 << bits));
            }
            HqqTestCodes.Bytes(scales).CopyTo(matrix.Plane(1).Span);
            HqqTestCodes.Bytes(zeros).CopyTo(matrix.Plane(2).Span);

            var exact = new double[n * k];
            var float32 = new float[n * k];
            for (int i = 0; i < exact.Length; i++)
            {
                int q = HqqTestCodes.Code(matrix.Plane(0).Span, i, bits);
                exact[i] = (q - (double)zeros[i / group]) * scales[i / group];
                float32[i] = (q - zeros[i / group]) * scales[i / group];
            }
            foreach (var level in TestFormats.Levels)
            {
                var got = TestFormats.Dequantize(entry, matrix, level);
                string context = $"seed {seed - 1}, {format}, {n} x {k}, {level}";
                failures.Run(() => Check.BitsEqual(float32, got, context, k));
                failures.Run(() =>
                {
                    for (int i = 0; i < got.Length; i++)
                    {
                        double error = Math.Abs(got[i] - exact[i]);
                        if (error > Math.ScaleB(Math.Abs(exact[i]), -23))
                        {
                            throw new Xunit.Sdk.XunitException($"{context}: element {i} is {got[i]:R}, the float64 value {exact[i]:R}; error {error:E3} above 2^-23 of it");
                        }
                    }
                });
            }
        }
        failures.ThrowIfAny();
    }
}
