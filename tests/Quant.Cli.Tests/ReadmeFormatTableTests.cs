using System;
using System.IO;

namespace Quant.Cli.Tests;

/// <summary>README.md's format table is the registry's: <c>quant formats --markdown</c> between the markers.</summary>
public sealed class ReadmeFormatTableTests
{
    [Fact]
    public void ReadmeTable_IsWhatQuantFormatsMarkdownPrints()
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md")).Replace("\r\n", "\n", StringComparison.Ordinal);
        const string Begin = "<!-- formats:begin -->\n", End = "<!-- formats:end -->";
        int start = readme.IndexOf(Begin, StringComparison.Ordinal), end = readme.IndexOf(End, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "README.md lacks the formats:begin / formats:end markers");
        string table = readme[(start + Begin.Length)..end];
        var result = CliRunner.Ok("formats", "--markdown");
        Assert.True(result.Out.Replace("\r\n", "\n", StringComparison.Ordinal) == table,
            "README.md's format table differs from 'quant formats --markdown': regenerate it (dotnet run --project tools/Quant.Cli -- formats --markdown)");
        Assert.Contains("| `q4_0` |", table);
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Quant.sln"))) return dir.FullName;
        throw new InvalidOperationException("Quant.sln not found above the test's folder.");
    }
}
