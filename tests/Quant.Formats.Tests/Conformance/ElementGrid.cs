using System;
using System.Globalization;
using System.Linq;
using System.Reflection;
using Quant.Formats.Tests.Support;

namespace Quant.Formats.Tests.Conformance;

/// <summary>
/// How far a format's reconstruction of an element may be from the element, derived from the format's own
/// declaration (read back from its attributes): the element grid's worst gap relative to the block's largest
/// magnitude. A round trip keeps every block's RMS error within <see cref="Slack"/> times that, plus
/// <see cref="AbsoluteFloor"/> for formats without a scale (their subnormals).
/// </summary>
/// <param name="Relative">The grid's worst-case error of one element over the block amax, for the plain absmax-style scale.</param>
/// <param name="AbsoluteFloor">An absolute error every element may have regardless of its block (half the smallest subnormal of an unscaled minifloat).</param>
/// <param name="Derivation">How <paramref name="Relative"/> was found, for failure messages.</param>
internal sealed record ElementGrid(double Relative, double AbsoluteFloor, string Derivation)
{
    /// <summary>
    /// Room for what the grid alone does not capture: scales rounded to their own code (F16, BF16, E4M3),
    /// 4- to 8-bit sub-scales of super-blocks, searched scales that trade a larger error on one element for a
    /// smaller total, and shared exponents that clip the top of a block.
    /// </summary>
    public const double Slack = 2.0;

    /// <summary>The block RMS error allowed for a block whose largest magnitude is <paramref name="amax"/>.</summary>
    public double Bound(double amax) => Slack * Relative * amax + AbsoluteFloor;

    /// <summary>Reads the element code of <paramref name="entry"/>'s declaration and derives its grid.</summary>
    /// <exception cref="InvalidOperationException">The declaration has no element code the suite knows.</exception>
    public static ElementGrid For(QuantFormatEntry entry)
    {
        var declaration = entry.FormatType.DeclaringType
            ?? throw new InvalidOperationException($"{entry.Info.Name}: the Format struct has no declaring class.");
        int bits = entry.Info.CodeBits;
        bool hasScale = declaration.GetCustomAttribute<ScaleAttribute>() is not null;
        var min = declaration.GetCustomAttribute<MinAttribute>();

        if (declaration.GetCustomAttribute<CodebookAttribute>() is { } codebook) return ForCodebook(codebook.Values);

        if (declaration.GetCustomAttribute<MinifloatAttribute>() is { } minifloat)
        {
            int bias = minifloat.Bias >= 0 ? minifloat.Bias : (1 << (minifloat.ExponentBits - 1)) - 1;
            var layout = new MinifloatLayout(declaration.Name, minifloat.ExponentBits, minifloat.MantissaBits, bias, minifloat.Specials);
            // Half the top binade's spacing relative to its bottom, or the clipping of an amax that a shared
            // exponent puts anywhere in [2^emax, 2^(emax+1)) onto the largest value, whichever is larger.
            int emax = Math.ILogB(layout.MaxFinite);
            double gap = Math.ScaleB(1.0, -minifloat.MantissaBits - 1);
            double clip = 1 - layout.MaxFinite / Math.ScaleB(1.0, emax + 1);
            double floor = hasScale ? 0 : Math.ScaleB(1.0, -bias - minifloat.MantissaBits);
            return new ElementGrid(Math.Max(gap, clip), floor, Text(
                $"E{minifloat.ExponentBits}M{minifloat.MantissaBits} minifloat: max(2^-(m+1) = {gap:G4}, 1 - max/2^(emax+1) = {clip:G4}), floor {floor:G4}"));
        }

        if (declaration.GetCustomAttribute<IntegerAttribute>() is { } integer)
        {
            if (integer.Signed)
            {
                double r = 1.0 / (2 * ((1 << (bits - 1)) - 1));
                // A scale stored in a short float (F8Q8's E4M3) may round below amax / max code, so the block's
                // largest element clips by up to the scale code's half ulp: one element's share of the block RMS.
                double clip = declaration.GetCustomAttribute<ScaleAttribute>()?.Code switch
                {
                    ScaleCode.E4M3 => Math.ScaleB(1.0, -4),
                    ScaleCode.BF16 => Math.ScaleB(1.0, -8),
                    ScaleCode.F16 => Math.ScaleB(1.0, -11),
                    _ => 0,
                } / Math.Sqrt(entry.Info.BlockSize);
                return new ElementGrid(r + clip, 0, Text($"{bits}-bit two's complement: half a step of amax / {(1 << (bits - 1)) - 1} = {r:G4}, plus a scale code's clipping of one element {clip:G4}"));
            }
            if (min is not null)
            {
                double r = 1.0 / ((1 << bits) - 1);
                return new ElementGrid(r, 0, Text($"{bits}-bit unsigned with a minimum: half a step of (max - min) <= 2 amax over {(1 << bits) - 1} = {r:G4}"));
            }
            if (integer.Offset > 0)
            {
                double r = 1.0 / (2 * integer.Offset);
                return new ElementGrid(r, 0, Text($"{bits}-bit codes minus {integer.Offset}: half a step of amax / {integer.Offset} = {r:G4}"));
            }
            return new ElementGrid(1, 0, $"{bits}-bit unsigned codes without offset or minimum cannot hold negative values");
        }
        throw new InvalidOperationException($"{entry.Info.Name}: the declaration {declaration.FullName} has no [Integer], [Codebook] or [Minifloat].");
    }

    /// <summary>
    /// For a table scaled so that its largest magnitude M meets the block amax: the largest distance from any
    /// point of [-M, M] (or of [min, max] for a one-signed table) to its nearest entry, over M.
    /// </summary>
    private static ElementGrid ForCodebook(float[] values)
    {
        var sorted = values.Select(v => (double)v).Distinct().Order().ToArray();
        double m = sorted.Max(Math.Abs);
        double low = sorted[0] < 0 ? -m : sorted[0], high = sorted[^1] > 0 ? m : sorted[^1];
        double worst = Math.Max(sorted[0] - low, high - sorted[^1]);
        for (int i = 1; i < sorted.Length; i++) worst = Math.Max(worst, (sorted[i] - sorted[i - 1]) / 2);
        return new ElementGrid(worst / m, 0, Text($"{values.Length}-entry codebook: largest distance to an entry {worst:G4} over its largest magnitude {m:G4}"));
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
