using System;
using System.Collections.Generic;

namespace Quant.Ggml.Tests;

/// <summary>Deterministic blocks and importance rows of our own (seeds and shapes unlike the peer vectors).</summary>
internal static class TestData
{
    public static readonly string[] Types = ["q4_0", "q5_0", "q4_1", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "iq4_nl", "iq4_xs"];

    public static int BlockSize(string type) => type is "q4_0" or "q5_0" or "q4_1" or "q5_1" or "iq4_nl" ? 32 : 256;

    /// <summary>Whether the type's quantizer takes an importance matrix (q8_K does not).</summary>
    public static bool TakesImportance(string type) => type != "q8_K";

    public static IEnumerable<object[]> TypeData()
    {
        foreach (string type in Types) yield return [type];
    }

    /// <summary>Named value distributions, including the awkward ones (constant, sparse, one spike, tiny, huge).</summary>
    public static IEnumerable<(string Name, float[] Values)> Blocks(int n, int seed)
    {
        var rng = new Random(seed);
        float[] Make(Func<int, float> f)
        {
            var v = new float[n];
            for (int i = 0; i < n; i++) v[i] = f(i);
            return v;
        }
        for (int k = 0; k < 40; k++) yield return ("gauss", Make(_ => Gauss(rng)));
        for (int k = 0; k < 10; k++) yield return ("gauss*1e-3", Make(_ => Gauss(rng) * 1e-3f));
        for (int k = 0; k < 10; k++) yield return ("gauss*3e3", Make(_ => Gauss(rng) * 3e3f));
        for (int k = 0; k < 10; k++) yield return ("cauchy", Make(_ => Math.Clamp(Gauss(rng) / Gauss(rng), -1e4f, 1e4f)));
        for (int k = 0; k < 10; k++) yield return ("positive", Make(_ => (float)rng.NextDouble() + 0.25f));
        for (int k = 0; k < 10; k++) yield return ("negative", Make(_ => -(float)rng.NextDouble() * 7f));
        for (int k = 0; k < 10; k++) yield return ("sparse", Make(_ => rng.Next(10) == 0 ? Gauss(rng) : 0f));
        yield return ("constant", Make(_ => 0.75f));
        yield return ("constant negative", Make(_ => -2f));
        yield return ("one spike", Make(i => i == n / 3 ? -4f : 0f));
        yield return ("tiny", Make(_ => Gauss(rng) * 1e-20f));
        yield return ("subnormal-ish", Make(_ => Gauss(rng) * 1e-38f));
        yield return ("huge", Make(_ => (rng.Next(2) == 0 ? -1 : 1) * (3e4f + 3.5e4f * (float)rng.NextDouble())));
        yield return ("ramp", Make(i => -1f + 2f * i / (n - 1)));
        yield return ("spike among tiny", Make(i => i == 5 ? 1f : Gauss(rng) * 1e-30f));
    }

    /// <summary>Importance rows: none, log-normal, constant, with zero columns, and all zero (dead columns).</summary>
    public static IEnumerable<(string Name, float[] Values)> Importances(int n, int seed)
    {
        var rng = new Random(seed);
        yield return ("none", []);
        var logNormal = new float[n];
        for (int i = 0; i < n; i++) logNormal[i] = MathF.Exp(1.5f * Gauss(rng));
        yield return ("log-normal", logNormal);
        var constant = new float[n];
        Array.Fill(constant, 1f);
        yield return ("constant", constant);
        var someZero = new float[n];
        for (int i = 0; i < n; i++) someZero[i] = rng.Next(4) == 0 ? 0f : MathF.Exp(Gauss(rng));
        yield return ("some zero", someZero);
        yield return ("all zero", new float[n]);
    }

    public static float Gauss(Random rng)
        => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
}
