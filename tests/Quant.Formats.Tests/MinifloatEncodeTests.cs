using System;
using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Quant.Numerics;

namespace Quant.Formats.Tests;

/// <summary>
/// <see cref="Minifloat.Encode(float, int, int, int, MinifloatSpecials, MinifloatOverflow)"/> (and its generic
/// overload, and the scale helpers <see cref="E4M3.FromSingle"/>, <see cref="Fp16.FromSingle"/>,
/// <see cref="Bf16.FromSingle"/>) pinned rule by rule to the OCP MX 1.0, OCP FP8 and IEEE 754 conversions:
/// round to nearest with ties to the even code, at every code, at every midpoint between neighbouring codes and
/// one float32 ulp either side of it, past the largest finite value, and for NaN and infinities, under both
/// <see cref="MinifloatOverflow.Saturate"/> (OCP MX: clamp to the largest normal) and
/// <see cref="MinifloatOverflow.Infinity"/> (IEEE: to infinity; NaN for E4M3, which has no infinity).
/// </summary>
public sealed class MinifloatEncodeTests
{
    private static readonly float PositiveNaN = BitConverter.UInt32BitsToSingle(0x7FC00000);
    private static readonly float NegativeNaN = BitConverter.UInt32BitsToSingle(0xFFC00000);
    private static readonly float SignalingNaN = BitConverter.UInt32BitsToSingle(0x7F800001);
    private static readonly float PayloadNaN = BitConverter.UInt32BitsToSingle(0xFFD23456);

    // ---- E2M1 (MXFP4, NVFP4 elements)

    [Fact]
    public void E2M1_Encode_EveryCode_IsThatCode() => EveryCodeIsItself(MinifloatLayout.E2M1);

    [Fact]
    public void E2M1_Encode_TieBetweenCodes_RoundsToEven()
    {
        // 0.25 between 0 and 0.5, 0.75 between 0.5 and 1, ... 5 between 4 and 6: the code with mantissa bit 0 wins.
        (float X, int Code)[] ties = [(0.25f, 0x0), (0.75f, 0x2), (1.25f, 0x2), (1.75f, 0x4), (2.5f, 0x4), (3.5f, 0x6), (5f, 0x6), (-5f, 0xE), (-0.25f, 0x8)];
        ExpectCodes(MinifloatLayout.E2M1, ties);
        EveryMidpointRoundsToEven(MinifloatLayout.E2M1);
    }

    [Fact]
    public void E2M1_Encode_OneUlpAroundEachMidpoint_RoundsToNearest() => AroundEveryMidpoint(MinifloatLayout.E2M1);

    [Fact]
    public void E2M1_Encode_BeyondMaxNormal_SaturatesTo6_OcpMx()
    {
        var l = MinifloatLayout.E2M1;
        foreach (float x in new[] { 6.5f, 7f, 7.5f, 100f, float.MaxValue, float.PositiveInfinity })
        {
            ExpectCode(l, x, MinifloatOverflow.Saturate, 0x7);
            ExpectCode(l, -x, MinifloatOverflow.Saturate, 0xF);
        }
        BeyondMaxMatchesReference(l);
    }

    [Fact]
    public void E2M1_Encode_Overflow_WithoutInfinityOrNaN_Saturates()
    {
        foreach (float x in new[] { 7f, 7.5f, 1e30f, float.PositiveInfinity }) ExpectCode(MinifloatLayout.E2M1, x, MinifloatOverflow.Infinity, 0x7);
    }

    [Fact]
    public void E2M1_Encode_NaN_WithoutNaNCode_IsMaxNormalOfItsSign_ImplementationDefinedInOcpMx() => NaNGives(MinifloatLayout.E2M1, 0x7);

    [Fact]
    public void E2M1_Encode_BelowHalfTheSmallestSubnormal_IsZeroOfItsSign() => UnderflowKeepsSign(MinifloatLayout.E2M1);

    // ---- E2M3 (MXFP6)

    [Fact]
    public void E2M3_Encode_EveryCode_IsThatCode() => EveryCodeIsItself(MinifloatLayout.E2M3);

    [Fact]
    public void E2M3_Encode_TieBetweenCodes_RoundsToEven()
    {
        (float X, int Code)[] ties = [(0.0625f, 0x00), (0.1875f, 0x02), (1.0625f, 0x08), (1.1875f, 0x0A), (7.25f, 0x1E), (-7.25f, 0x3E)];
        ExpectCodes(MinifloatLayout.E2M3, ties);
        EveryMidpointRoundsToEven(MinifloatLayout.E2M3);
    }

    [Fact]
    public void E2M3_Encode_OneUlpAroundEachMidpoint_RoundsToNearest() => AroundEveryMidpoint(MinifloatLayout.E2M3);

    [Fact]
    public void E2M3_Encode_BeyondMaxNormal_SaturatesTo7_5_OcpMx()
    {
        var l = MinifloatLayout.E2M3;
        foreach (float x in new[] { 7.6f, 7.75f, 8f, 1e20f, float.PositiveInfinity })
        {
            ExpectCode(l, x, MinifloatOverflow.Saturate, 0x1F);
            ExpectCode(l, -x, MinifloatOverflow.Saturate, 0x3F);
        }
        BeyondMaxMatchesReference(l);
    }

    [Fact]
    public void E2M3_Encode_Overflow_WithoutInfinityOrNaN_Saturates()
    {
        foreach (float x in new[] { 7.75f, 8f, float.PositiveInfinity }) ExpectCode(MinifloatLayout.E2M3, x, MinifloatOverflow.Infinity, 0x1F);
    }

    [Fact]
    public void E2M3_Encode_NaN_WithoutNaNCode_IsMaxNormalOfItsSign_ImplementationDefinedInOcpMx() => NaNGives(MinifloatLayout.E2M3, 0x1F);

    [Fact]
    public void E2M3_Encode_BelowHalfTheSmallestSubnormal_IsZeroOfItsSign() => UnderflowKeepsSign(MinifloatLayout.E2M3);

    // ---- E3M2 (MXFP6)

    [Fact]
    public void E3M2_Encode_EveryCode_IsThatCode() => EveryCodeIsItself(MinifloatLayout.E3M2);

    [Fact]
    public void E3M2_Encode_TieBetweenCodes_RoundsToEven()
    {
        (float X, int Code)[] ties = [(0.03125f, 0x00), (0.09375f, 0x02), (0.28125f, 0x04), (26f, 0x1E), (-26f, 0x3E)];
        ExpectCodes(MinifloatLayout.E3M2, ties);
        EveryMidpointRoundsToEven(MinifloatLayout.E3M2);
    }

    [Fact]
    public void E3M2_Encode_OneUlpAroundEachMidpoint_RoundsToNearest() => AroundEveryMidpoint(MinifloatLayout.E3M2);

    [Fact]
    public void E3M2_Encode_BeyondMaxNormal_SaturatesTo28_OcpMx()
    {
        var l = MinifloatLayout.E3M2;
        foreach (float x in new[] { 28.5f, 30f, 32f, 1e10f, float.PositiveInfinity })
        {
            ExpectCode(l, x, MinifloatOverflow.Saturate, 0x1F);
            ExpectCode(l, -x, MinifloatOverflow.Saturate, 0x3F);
        }
        BeyondMaxMatchesReference(l);
    }

    [Fact]
    public void E3M2_Encode_Overflow_WithoutInfinityOrNaN_Saturates()
    {
        foreach (float x in new[] { 30f, 31f, float.PositiveInfinity }) ExpectCode(MinifloatLayout.E3M2, x, MinifloatOverflow.Infinity, 0x1F);
    }

    [Fact]
    public void E3M2_Encode_NaN_WithoutNaNCode_IsMaxNormalOfItsSign_ImplementationDefinedInOcpMx() => NaNGives(MinifloatLayout.E3M2, 0x1F);

    [Fact]
    public void E3M2_Encode_BelowHalfTheSmallestSubnormal_IsZeroOfItsSign() => UnderflowKeepsSign(MinifloatLayout.E3M2);

    // ---- E4M3 (OCP FP8, MXFP8, NVFP4 block scales)

    [Fact]
    public void E4M3_Encode_EveryCode_IsThatCode() => EveryCodeIsItself(MinifloatLayout.E4M3);

    [Fact]
    public void E4M3_Encode_TieBetweenCodes_RoundsToEven()
    {
        // 2^-10 between 0 and the smallest subnormal 2^-9; 8.5 between 8 and 9; 17 between 16 and 18; 432 between 416 and 448.
        (float X, int Code)[] ties = [(MathF.ScaleB(1f, -10), 0x00), (8.5f, 0x50), (17f, 0x58), (19f, 0x5A), (432f, 0x7E), (-432f, 0xFE)];
        ExpectCodes(MinifloatLayout.E4M3, ties);
        EveryMidpointRoundsToEven(MinifloatLayout.E4M3);
    }

    [Fact]
    public void E4M3_Encode_OneUlpAroundEachMidpoint_RoundsToNearest() => AroundEveryMidpoint(MinifloatLayout.E4M3);

    [Fact]
    public void E4M3_Encode_BeyondMaxNormal_SaturatesTo448_OcpMx()
    {
        var l = MinifloatLayout.E4M3;
        foreach (float x in new[] { 449f, 464f, 465f, 480f, 512f, 1e6f, float.MaxValue, float.PositiveInfinity })
        {
            ExpectCode(l, x, MinifloatOverflow.Saturate, 0x7E);
            ExpectCode(l, -x, MinifloatOverflow.Saturate, 0xFE);
            Assert.Equal(0x7E, E4M3.FromSingle(x));
            Assert.Equal(0xFE, E4M3.FromSingle(-x));
        }
        BeyondMaxMatchesReference(l);
    }

    [Fact]
    public void E4M3_Encode_Overflow_IsNaN_464TiesDownTo448_OcpFp8NonSaturating()
    {
        var l = MinifloatLayout.E4M3;
        // 464 is the midpoint between 448 (S.1111.110, even) and the NaN pattern S.1111.111: it rounds to 448.
        ExpectCode(l, 464f, MinifloatOverflow.Infinity, 0x7E);
        ExpectCode(l, MathF.BitDecrement(464f), MinifloatOverflow.Infinity, 0x7E);
        foreach (float x in new[] { MathF.BitIncrement(464f), 480f, 1e6f, float.PositiveInfinity })
        {
            ExpectCode(l, x, MinifloatOverflow.Infinity, 0x7F);
            ExpectCode(l, -x, MinifloatOverflow.Infinity, 0xFF);
        }
    }

    [Fact]
    public void E4M3_Encode_NaN_IsNaNCode0x7F_OcpFp8() => NaNGives(MinifloatLayout.E4M3, 0x7F);

    [Fact]
    public void E4M3_FromSingle_IsTheSaturatingRneEncoder_ToSingleDecodesEveryCodeExactly()
    {
        var l = MinifloatLayout.E4M3;
        var failures = new FailureLog();
        foreach (float x in ProbePoints(l))
        {
            int expected = l.Encode(x, MinifloatOverflow.Saturate);
            float probe = x;
            failures.Run(() => Assert.True(E4M3.FromSingle(probe) == expected,
                $"E4M3.FromSingle({Check.Show(probe)}) = 0x{E4M3.FromSingle(probe):X2}, expected 0x{expected:X2}"));
        }
        for (int code = 0; code < 256; code++)
        {
            int c = code;
            failures.Run(() => ExactBits.Equal(l.Expected(c), E4M3.ToSingle((byte)c), $"E4M3.ToSingle(0x{c:X2})"));
        }
        failures.ThrowIfAny();
    }

    [Fact]
    public void E4M3_Encode_BelowHalfTheSmallestSubnormal_IsZeroOfItsSign() => UnderflowKeepsSign(MinifloatLayout.E4M3);

    // ---- E5M2 (OCP FP8, MXFP8)

    [Fact]
    public void E5M2_Encode_EveryCode_IsThatCode() => EveryCodeIsItself(MinifloatLayout.E5M2);

    [Fact]
    public void E5M2_Encode_TieBetweenCodes_RoundsToEven()
    {
        (float X, int Code)[] ties = [(MathF.ScaleB(1f, -17), 0x00), (1.125f, 0x3C), (1.375f, 0x3E), (53248f, 0x7A), (-53248f, 0xFA)];
        ExpectCodes(MinifloatLayout.E5M2, ties);
        EveryMidpointRoundsToEven(MinifloatLayout.E5M2);
    }

    [Fact]
    public void E5M2_Encode_OneUlpAroundEachMidpoint_RoundsToNearest() => AroundEveryMidpoint(MinifloatLayout.E5M2);

    [Fact]
    public void E5M2_Encode_BeyondMaxNormal_SaturatesTo57344_OcpMx()
    {
        var l = MinifloatLayout.E5M2;
        foreach (float x in new[] { 57345f, 61440f, 65536f, 1e9f, float.MaxValue })
        {
            ExpectCode(l, x, MinifloatOverflow.Saturate, 0x7B);
            ExpectCode(l, -x, MinifloatOverflow.Saturate, 0xFB);
        }
        BeyondMaxMatchesReference(l);
    }

    [Fact]
    public void E5M2_Encode_Infinity_UnderSaturation_IsMaxNormal_OcpMxSatFinite()
    {
        ExpectCode(MinifloatLayout.E5M2, float.PositiveInfinity, MinifloatOverflow.Saturate, 0x7B);
        ExpectCode(MinifloatLayout.E5M2, float.NegativeInfinity, MinifloatOverflow.Saturate, 0xFB);
    }

    [Fact]
    public void E5M2_Encode_Overflow_IsInfinity_Ieee()
    {
        var l = MinifloatLayout.E5M2;
        // 61440 is the midpoint between 57344 (S.11110.11, odd) and 2^16: it rounds to even, which is infinity.
        ExpectCode(l, MathF.BitDecrement(61440f), MinifloatOverflow.Infinity, 0x7B);
        foreach (float x in new[] { 61440f, 65536f, 1e9f, float.PositiveInfinity })
        {
            ExpectCode(l, x, MinifloatOverflow.Infinity, 0x7C);
            ExpectCode(l, -x, MinifloatOverflow.Infinity, 0xFC);
        }
    }

    [Fact]
    public void E5M2_Encode_NaN_IsQuietNaNCode0x7E_Ieee() => NaNGives(MinifloatLayout.E5M2, 0x7E);

    [Fact]
    public void E5M2_Encode_BelowHalfTheSmallestSubnormal_IsZeroOfItsSign() => UnderflowKeepsSign(MinifloatLayout.E5M2);

    // ---- binary16 and bfloat16 (the f16 / bf16 formats and the F16 / BF16 scales)

    [Fact]
    public void Binary16_Encode_EveryCode_IsThatCode() => EveryCodeIsItself(MinifloatLayout.Binary16);

    [Fact]
    public void Binary16_Encode_TieBetweenCodes_RoundsToEven()
    {
        (float X, int Code)[] ties = [(MathF.ScaleB(1f, -25), 0x0000), (1f + MathF.ScaleB(1f, -11), 0x3C00), (1f + MathF.ScaleB(3f, -11), 0x3C02), (65488f, 0x7BFE)];
        ExpectCodes(MinifloatLayout.Binary16, ties);
        EveryMidpointRoundsToEven(MinifloatLayout.Binary16);
    }

    [Fact]
    public void Binary16_Encode_OneUlpAroundEachMidpoint_RoundsToNearest() => AroundEveryMidpoint(MinifloatLayout.Binary16);

    [Fact]
    public void Binary16_Encode_Overflow_IsInfinityFrom65520_Ieee()
    {
        var l = MinifloatLayout.Binary16;
        ExpectCode(l, MathF.BitDecrement(65520f), MinifloatOverflow.Infinity, 0x7BFF);
        ExpectCode(l, 65520f, MinifloatOverflow.Infinity, 0x7C00);
        ExpectCode(l, -65520f, MinifloatOverflow.Infinity, 0xFC00);
        ExpectCode(l, 65520f, MinifloatOverflow.Saturate, 0x7BFF);
        BeyondMaxMatchesReference(l);
    }

    [Fact]
    public void Binary16_Encode_NaN_IsQuietNaNCode0x7E00_Ieee() => NaNGives(MinifloatLayout.Binary16, 0x7E00);

    [Fact]
    public void Binary16_Fp16FromSingle_MatchesRneWithOverflowToInfinity()
        => ScaleHelperMatchesReference(MinifloatLayout.Binary16, x => Fp16.FromSingle(x), "Fp16.FromSingle");

    [Fact]
    public void BFloat16_Encode_EveryCode_IsThatCode() => EveryCodeIsItself(MinifloatLayout.BFloat16);

    [Fact]
    public void BFloat16_Encode_TieBetweenCodes_RoundsToEven()
    {
        (float X, int Code)[] ties = [(1f + MathF.ScaleB(1f, -8), 0x3F80), (1f + MathF.ScaleB(3f, -8), 0x3F82), (MathF.ScaleB(1f, -134), 0x0000)];
        ExpectCodes(MinifloatLayout.BFloat16, ties);
        EveryMidpointRoundsToEven(MinifloatLayout.BFloat16);
    }

    [Fact]
    public void BFloat16_Encode_OneUlpAroundEachMidpoint_RoundsToNearest() => AroundEveryMidpoint(MinifloatLayout.BFloat16);

    [Fact]
    public void BFloat16_Encode_Overflow_IsInfinity_Ieee()
    {
        var l = MinifloatLayout.BFloat16;
        // The midpoint above the largest bfloat16 (0x7F7F) is 0x7F7F8000 as a float32; it rounds to even: infinity.
        float threshold = BitConverter.UInt32BitsToSingle(0x7F7F8000);
        ExpectCode(l, MathF.BitDecrement(threshold), MinifloatOverflow.Infinity, 0x7F7F);
        ExpectCode(l, threshold, MinifloatOverflow.Infinity, 0x7F80);
        ExpectCode(l, float.MaxValue, MinifloatOverflow.Infinity, 0x7F80);
        ExpectCode(l, -float.MaxValue, MinifloatOverflow.Saturate, 0xFF7F);
        BeyondMaxMatchesReference(l);
    }

    [Fact]
    public void BFloat16_Encode_NaN_IsQuietNaNCode0x7FC0_Ieee() => NaNGives(MinifloatLayout.BFloat16, 0x7FC0);

    [Fact]
    public void BFloat16_Bf16FromSingle_MatchesRneWithOverflowToInfinity()
        => ScaleHelperMatchesReference(MinifloatLayout.BFloat16, x => Bf16.FromSingle(x), "Bf16.FromSingle");

    // ---- the whole probe set against the float64 reference, every encoder entry point, both overflow modes

    public static TheoryData<string, MinifloatOverflow> LayoutsAndModes()
    {
        var data = new TheoryData<string, MinifloatOverflow>();
        foreach (var layout in MinifloatLayout.All)
        {
            data.Add(layout.Name, MinifloatOverflow.Saturate);
            data.Add(layout.Name, MinifloatOverflow.Infinity);
        }
        return data;
    }

    [Theory, MemberData(nameof(LayoutsAndModes))]
    public void Encode_EveryCodeMidpointNeighbourAndSpecial_MatchesFloat64Rne(string layoutName, MinifloatOverflow overflow)
    {
        var l = MinifloatLayout.Get(layoutName);
        var failures = new FailureLog();
        int probes = 0;
        foreach (float x in ProbePoints(l))
        {
            int expected = l.Encode(x, overflow);
            int got = Minifloat.Encode(x, l.ExponentBits, l.MantissaBits, l.Bias, l.Specials, overflow);
            int generic = EncodeGeneric(l, x, overflow);
            float probe = x;
            failures.Run(() => Assert.True(got == expected, $"{l.Name} Encode({Check.Show(probe)}, {overflow}) = 0x{got:X}, expected 0x{expected:X}"));
            failures.Run(() => Assert.True(generic == expected, $"{l.Name} Encode<TSpec>({Check.Show(probe)}, {overflow}) = 0x{generic:X}, expected 0x{expected:X}"));
            probes++;
        }
        Assert.True(probes > 3 * l.MaxFiniteCode, $"{l.Name}: only {probes} probes");
        failures.ThrowIfAny();
    }

    // ---- the sweeps behind the named rules

    private static void EveryCodeIsItself(MinifloatLayout l)
    {
        var failures = new FailureLog();
        for (int code = 0; code < l.CodeCount; code++)
        {
            double value = l.Value(code);
            if (!double.IsFinite(value)) continue;
            foreach (var mode in new[] { MinifloatOverflow.Saturate, MinifloatOverflow.Infinity })
            {
                int c = code;
                failures.Run(() => ExpectCode(l, (float)value, mode, c));
            }
        }
        if (l.InfinityCode is int infinity)
        {
            failures.Run(() => ExpectCode(l, float.PositiveInfinity, MinifloatOverflow.Infinity, infinity));
            failures.Run(() => ExpectCode(l, float.NegativeInfinity, MinifloatOverflow.Infinity, infinity | l.SignBit));
        }
        failures.ThrowIfAny();
    }

    /// <summary>Every midpoint between neighbouring codes goes to the code whose last mantissa bit is 0 (both signs, both modes).</summary>
    private static void EveryMidpointRoundsToEven(MinifloatLayout l)
    {
        var failures = new FailureLog();
        for (int k = 0; k < l.MaxFiniteCode; k++)
        {
            float midpoint = Midpoint(l, k);
            int even = (k & 1) == 0 ? k : k + 1;
            foreach (var mode in new[] { MinifloatOverflow.Saturate, MinifloatOverflow.Infinity })
            {
                failures.Run(() => ExpectCode(l, midpoint, mode, even));
                failures.Run(() => ExpectCode(l, -midpoint, mode, even | l.SignBit));
            }
        }
        failures.ThrowIfAny();
    }

    /// <summary>One float32 ulp below a midpoint goes to the lower code, one above to the upper.</summary>
    private static void AroundEveryMidpoint(MinifloatLayout l)
    {
        var failures = new FailureLog();
        for (int k = 0; k < l.MaxFiniteCode; k++)
        {
            float midpoint = Midpoint(l, k);
            int lower = k, upper = k + 1;
            foreach (var mode in new[] { MinifloatOverflow.Saturate, MinifloatOverflow.Infinity })
            {
                failures.Run(() => ExpectCode(l, MathF.BitDecrement(midpoint), mode, lower));
                failures.Run(() => ExpectCode(l, MathF.BitIncrement(midpoint), mode, upper));
                failures.Run(() => ExpectCode(l, -MathF.BitDecrement(midpoint), mode, lower | l.SignBit));
                failures.Run(() => ExpectCode(l, -MathF.BitIncrement(midpoint), mode, upper | l.SignBit));
            }
        }
        failures.ThrowIfAny();
    }

    private static void BeyondMaxMatchesReference(MinifloatLayout l)
    {
        var failures = new FailureLog();
        foreach (float x in BeyondMaxPoints(l))
        {
            foreach (var mode in new[] { MinifloatOverflow.Saturate, MinifloatOverflow.Infinity })
            {
                int expected = l.Encode(x, mode);
                failures.Run(() => ExpectCode(l, x, mode, expected));
                failures.Run(() => ExpectCode(l, -x, mode, l.Encode(-x, mode)));
            }
        }
        failures.ThrowIfAny();
    }

    /// <summary>NaN of either sign, quiet, signalling or with a payload: the NaN code (or <paramref name="positiveCode"/>) with the input's sign, in both modes.</summary>
    private static void NaNGives(MinifloatLayout l, int positiveCode)
    {
        foreach (var mode in new[] { MinifloatOverflow.Saturate, MinifloatOverflow.Infinity })
        {
            ExpectCode(l, PositiveNaN, mode, positiveCode);
            ExpectCode(l, SignalingNaN, mode, positiveCode);
            ExpectCode(l, NegativeNaN, mode, positiveCode | l.SignBit);
            ExpectCode(l, PayloadNaN, mode, positiveCode | l.SignBit);
        }
    }

    private static void UnderflowKeepsSign(MinifloatLayout l)
    {
        float smallest = (float)l.Value(1);
        foreach (float x in new[] { MathF.BitDecrement(smallest / 2), smallest / 4, float.Epsilon, 0f })
        {
            foreach (var mode in new[] { MinifloatOverflow.Saturate, MinifloatOverflow.Infinity })
            {
                ExpectCode(l, x, mode, 0);
                ExpectCode(l, -x, mode, l.SignBit);
            }
        }
    }

    /// <summary>A scale helper (RNE, overflow to infinity) against the reference; for NaN it need only give a NaN code of the input's sign.</summary>
    private static void ScaleHelperMatchesReference(MinifloatLayout l, Func<float, int> encode, string what)
    {
        var failures = new FailureLog();
        foreach (float x in ProbePoints(l))
        {
            int got = encode(x);
            float probe = x;
            if (float.IsNaN(x))
            {
                bool negative = float.IsNegative(x);
                failures.Run(() => Assert.True(l.IsNaN(got) && ((got & l.SignBit) != 0) == negative,
                    $"{what}({Check.Show(probe)}) = 0x{got:X}, not a NaN code of the same sign"));
                continue;
            }
            int expected = l.Encode(x, MinifloatOverflow.Infinity);
            failures.Run(() => Assert.True(got == expected, $"{what}({Check.Show(probe)}) = 0x{got:X}, expected 0x{expected:X}"));
        }
        failures.ThrowIfAny();
    }

    // ---- probe points

    /// <summary>Every finite code's value, every midpoint and its two float32 neighbours, the overflow points, NaNs, infinities and float32 subnormals; both signs.</summary>
    private static IEnumerable<float> ProbePoints(MinifloatLayout l)
    {
        var points = new List<float>();
        for (int k = 0; k <= l.MaxFiniteCode; k++)
        {
            points.Add((float)l.Value(k));
            if (k == l.MaxFiniteCode) continue;
            float midpoint = Midpoint(l, k);
            points.Add(midpoint);
            points.Add(MathF.BitDecrement(midpoint));
            points.Add(MathF.BitIncrement(midpoint));
        }
        points.AddRange(BeyondMaxPoints(l));
        points.AddRange([float.Epsilon, 2 * float.Epsilon, MathF.ScaleB(1f, -126), MathF.BitDecrement(MathF.ScaleB(1f, -126))]);
        foreach (float x in points.ToArray()) points.Add(-x);
        points.AddRange([PositiveNaN, NegativeNaN, SignalingNaN, PayloadNaN]);
        return points;
    }

    private static IEnumerable<float> BeyondMaxPoints(MinifloatLayout l)
    {
        float max = (float)l.MaxFinite;
        double threshold = l.MaxFinite + l.TopGap / 2;
        float t = (float)threshold;
        if (t != threshold) throw new InvalidOperationException($"{l.Name}: the overflow threshold {threshold:R} is not a float32.");
        yield return MathF.BitIncrement(max);
        yield return MathF.BitDecrement(t);
        yield return t;
        yield return MathF.BitIncrement(t);
        if (double.IsFinite(l.MaxFinite + l.TopGap) && l.MaxFinite + l.TopGap <= float.MaxValue) yield return (float)(l.MaxFinite + l.TopGap);
        if (2 * l.MaxFinite <= float.MaxValue) yield return 2 * max;
        yield return float.MaxValue;
        yield return float.PositiveInfinity;
    }

    /// <summary>The midpoint between codes k and k + 1, which must be a float32 for the sweep to mean anything.</summary>
    private static float Midpoint(MinifloatLayout l, int k)
    {
        double midpoint = (l.Value(k) + l.Value(k + 1)) / 2;
        float single = (float)midpoint;
        if (single != midpoint) throw new InvalidOperationException($"{l.Name}: the midpoint after code 0x{k:X} ({midpoint:R}) is not a float32.");
        return single;
    }

    // ---- assertions

    private static void ExpectCodes(MinifloatLayout l, (float X, int Code)[] cases)
    {
        foreach (var (x, code) in cases)
        {
            // The hand-written expectation must agree with the reference too, or one of them is wrong.
            Assert.True(l.Encode(x, MinifloatOverflow.Saturate) == code, $"{l.Name}: the reference encodes {Check.Show(x)} as 0x{l.Encode(x, MinifloatOverflow.Saturate):X}, the spec says 0x{code:X}");
            ExpectCode(l, x, MinifloatOverflow.Saturate, code);
            ExpectCode(l, x, MinifloatOverflow.Infinity, code);
        }
    }

    private static void ExpectCode(MinifloatLayout l, float x, MinifloatOverflow overflow, int expected)
    {
        int got = Minifloat.Encode(x, l.ExponentBits, l.MantissaBits, l.Bias, l.Specials, overflow);
        Assert.True(got == expected, $"{l.Name}: Minifloat.Encode({Check.Show(x)}, {overflow}) = 0x{got:X}, expected 0x{expected:X}");
        int generic = EncodeGeneric(l, x, overflow);
        Assert.True(generic == expected, $"{l.Name}: Minifloat.Encode<TSpec>({Check.Show(x)}, {overflow}) = 0x{generic:X}, expected 0x{expected:X}");
    }

    private static int EncodeGeneric(MinifloatLayout l, float x, MinifloatOverflow overflow) => l.Name switch
    {
        "E2M1" => Minifloat.Encode<E2M1Spec>(x, overflow),
        "E2M3" => Minifloat.Encode<E2M3Spec>(x, overflow),
        "E3M2" => Minifloat.Encode<E3M2Spec>(x, overflow),
        "E4M3" => Minifloat.Encode<E4M3>(x, overflow),
        "E5M2" => Minifloat.Encode<E5M2Spec>(x, overflow),
        "E5M10" => Minifloat.Encode<Binary16Spec>(x, overflow),
        "E8M7" => Minifloat.Encode<BFloat16Spec>(x, overflow),
        _ => throw new ArgumentException(l.Name),
    };
}
