using System;
using System.Collections.Generic;
using System.Text;

namespace Quant.Generator.Tests.Harness;

/// <summary>One line that is only in the expected text (removed) or only in the actual text (added).</summary>
/// <param name="Added">True for a line of the actual text, false for a line of the expected text.</param>
/// <param name="Line">The 1-based line number in the text the line comes from.</param>
/// <param name="Text">The line.</param>
internal readonly record struct DiffLine(bool Added, int Line, string Text);

/// <summary>
/// A line diff by longest common subsequence, enough to show a reviewer where a generated file moved
/// away from its snapshot. One inserted line counts as one differing line, not as every line after it.
/// </summary>
internal static class LineDiff
{
    // Above this many cells the table would be large; such a change is reported as a whole-block replacement.
    private const long MaxCells = 16_000_000;

    public static IReadOnlyList<DiffLine> Compute(string expected, string actual)
    {
        string[] a = expected.Split('\n');
        string[] b = actual.Split('\n');
        int prefix = 0;
        while (prefix < a.Length && prefix < b.Length && a[prefix] == b[prefix]) prefix++;
        int suffix = 0;
        while (suffix < a.Length - prefix && suffix < b.Length - prefix && a[a.Length - 1 - suffix] == b[b.Length - 1 - suffix]) suffix++;
        int n = a.Length - prefix - suffix, m = b.Length - prefix - suffix;

        var result = new List<DiffLine>();
        if ((long)(n + 1) * (m + 1) > MaxCells)
        {
            for (int i = 0; i < n; i++) result.Add(new DiffLine(false, prefix + i + 1, a[prefix + i]));
            for (int j = 0; j < m; j++) result.Add(new DiffLine(true, prefix + j + 1, b[prefix + j]));
            return result;
        }

        // lcs[i, j]: the longest common subsequence of a[prefix + i ..] and b[prefix + j ..] (middle part only).
        var lcs = new int[n + 1, m + 1];
        for (int i = n - 1; i >= 0; i--)
        {
            for (int j = m - 1; j >= 0; j--)
            {
                lcs[i, j] = a[prefix + i] == b[prefix + j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }
        int x = 0, y = 0;
        while (x < n || y < m)
        {
            if (x < n && y < m && a[prefix + x] == b[prefix + y])
            {
                x++;
                y++;
            }
            else if (x < n && (y == m || lcs[x + 1, y] >= lcs[x, y + 1]))
            {
                // Removals first, so a changed line reads as the snapshot's line, then the new one.
                result.Add(new DiffLine(false, prefix + x + 1, a[prefix + x]));
                x++;
            }
            else
            {
                result.Add(new DiffLine(true, prefix + y + 1, b[prefix + y]));
                y++;
            }
        }
        return result;
    }

    /// <summary>The first <paramref name="maxLines"/> differing lines, <c>-</c> for the snapshot and <c>+</c> for the new output.</summary>
    public static string Excerpt(IReadOnlyList<DiffLine> diff, int maxLines)
    {
        var text = new StringBuilder();
        for (int i = 0; i < diff.Count && i < maxLines; i++)
        {
            var line = diff[i];
            text.Append("    ").Append(line.Added ? "+ received " : "- snapshot ").Append(line.Line.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(5))
                .Append(": ").AppendLine(line.Text);
        }
        if (diff.Count > maxLines) text.Append("    ... and ").Append(diff.Count - maxLines).AppendLine(" more differing lines");
        return text.ToString();
    }
}
