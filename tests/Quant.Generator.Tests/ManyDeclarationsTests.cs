using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Quant.Generator.Tests.Harness;
using Xunit.Abstractions;

namespace Quant.Generator.Tests;

/// <summary>
/// A solution with many declarations, as an IDE would hold it: 200 formats (the catalogue's declarations,
/// copied into three namespaces with their names and ids made unique). Times
/// <see cref="GeneratorDriver.RunGenerators"/> on a fresh driver, then after an edit that touches no format
/// and after an edit to one declaration, and writes the figures to the test output
/// (<c>dotnet test --logger "console;verbosity=detailed"</c> shows them). Only a generous sanity bound is asserted.
/// </summary>
public sealed class ManyDeclarationsTests(ITestOutputHelper output)
{
    private const int Declarations = 200;

    [Fact]
    public void TwoHundredDeclarations_GenerateWithoutDiagnostics_AndTheDriverTimesAreReported()
    {
        var sources = ManySources(Declarations, out int formats);
        Assert.Equal(Declarations, formats);
        var compilation = GeneratorHarness.CreateCompilation(sources);

        // As a compiler or an IDE runs it: no step tracking.
        static GeneratorDriver NewDriver() => CSharpGeneratorDriver.Create(
            [new QuantFormatGenerator().AsSourceGenerator()], parseOptions: GeneratorHarness.ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: false));

        var clock = Stopwatch.StartNew();
        var driver = NewDriver().RunGenerators(compilation);
        var firstRun = clock.Elapsed;
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        Assert.Empty(result.Diagnostics);
        int files = result.GeneratedSources.Length;
        long characters = result.GeneratedSources.Sum(s => (long)s.SourceText.Length);

        // A fresh driver again: the same work with the generator's code already compiled by the JIT.
        clock.Restart();
        var warmDriver = NewDriver().RunGenerators(compilation);
        var secondFresh = clock.Elapsed;
        Assert.Equal(files, warmDriver.GetRunResult().Results.Single().GeneratedSources.Length);

        // An edit that touches no format: a comment and a method body in an unrelated class.
        var unrelated = GeneratorHarness.Parse(new SourceInput("Unrelated.cs", "namespace Elsewhere; public static class Helper { public static int Twice(int v) => v * 2; }"));
        var withUnrelated = compilation.AddSyntaxTrees(unrelated);
        driver = driver.RunGenerators(withUnrelated);
        var edited = withUnrelated.ReplaceSyntaxTree(unrelated, GeneratorHarness.Parse(new SourceInput("Unrelated.cs",
            "namespace Elsewhere; // edited\npublic static class Helper { public static int Twice(int v) => v + v; }")));
        clock.Restart();
        driver = driver.RunGenerators(edited);
        var unrelatedEdit = clock.Elapsed;
        Assert.Equal(files, driver.GetRunResult().Results.Single().GeneratedSources.Length);

        // An edit to one declaration (its description), which regenerates that format only.
        var target = edited.SyntaxTrees.First(t => t.FilePath.EndsWith("/Q4_0.cs", StringComparison.Ordinal));
        string text = target.GetText().ToString();
        var changed = edited.ReplaceSyntaxTree(target, GeneratorHarness.Parse(new SourceInput(target.FilePath,
            text.Replace("Description = \"", "Description = \"edited: ", StringComparison.Ordinal))));
        clock.Restart();
        driver = driver.RunGenerators(changed);
        var declarationEdit = clock.Elapsed;
        Assert.Equal(files, driver.GetRunResult().Results.Single().GeneratedSources.Length);

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Declarations} declarations in {sources.Length} files -> {files} generated files, {characters / 1e6:F1} M characters ({Environment.ProcessorCount} cores)"));
        output.WriteLine(Line("first run, fresh driver (includes JIT of the generator where no earlier test ran it)", firstRun));
        output.WriteLine(Line("second run, fresh driver (generator already JIT-compiled)", secondFresh));
        output.WriteLine(Line("incremental run after an edit to an unrelated class", unrelatedEdit));
        output.WriteLine(Line("incremental run after an edit to one declaration", declarationEdit));

        // Not a benchmark: only catches a pathological slowdown (minutes), whatever the machine.
        Assert.True(firstRun < TimeSpan.FromSeconds(120), $"The first run took {firstRun.TotalSeconds:F1} s.");
        Assert.True(unrelatedEdit < TimeSpan.FromSeconds(30), $"The run after an unrelated edit took {unrelatedEdit.TotalSeconds:F1} s.");
    }

    private static string Line(string what, TimeSpan time) =>
        string.Create(CultureInfo.InvariantCulture, $"  {time.TotalMilliseconds,8:F1} ms  RunGenerators, {what}");

    /// <summary>
    /// The catalogue's files copied into namespaces <c>Many.Copy0</c>, <c>Many.Copy1</c>, ... until
    /// <paramref name="count"/> formats are declared: format names get the copy's suffix, GGUF ids an offset,
    /// and the copies after the first drop the UQFF layer types that name a single format (Mxfp4, Fp8, F8Q8) or
    /// one per bit width and group (Afq, Hqq), so no two declarations clash.
    /// </summary>
    private static SourceInput[] ManySources(int count, out int formats)
    {
        var catalogue = Repository.CatalogueSources();
        var sources = new List<SourceInput>();
        formats = 0;
        for (int copy = 0; formats < count; copy++)
        {
            foreach (var source in catalogue)
            {
                bool declares = source.Text.Contains("[QuantFormat(", StringComparison.Ordinal);
                if (declares && formats == count) continue;
                string text = "using Quant;\n" + source.Text.Replace("namespace Quant.Kernels;", $"namespace Many.Copy{copy};", StringComparison.Ordinal);
                text = Regex.Replace(text, @"\[QuantFormat\(""([^""]+)""", m => $"[QuantFormat(\"{m.Groups[1].Value}_c{copy}\"");
                text = Regex.Replace(text, @"GgufType = (\d+)", m => $"GgufType = {int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) + 1000 * copy}");
                if (copy > 0) text = Regex.Replace(text, @"Uqff = UqffLayer\.(Mxfp4|Fp8|F8Q8|Afq|Hqq), ", "");
                sources.Add(new SourceInput($"Many/Copy{copy}/{System.IO.Path.GetFileName(source.Path)}", text));
                if (declares) formats++;
            }
        }
        return sources.ToArray();
    }
}
