using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Quant.Generator.Model;
using Quant.Generator.Tests.Harness;

namespace Quant.Generator.Tests;

/// <summary>
/// The Roslyn cookbook's incrementality checks: run one driver twice with an edit in between and read
/// the run reason of every tracked step. An edit that touches no format must leave every step
/// <c>Cached</c> or <c>Unchanged</c>; an edit to one declaration must change that format only.
/// </summary>
public sealed class IncrementalityTests
{
    private const string UnrelatedPath = "Unrelated.cs";

    private const string UnrelatedSource = """
        namespace Quant.Kernels;

        // A class of the same assembly that is not a format.
        internal static class Helpers
        {
            public static int Twice(int value) => value * 2;
        }
        """;

    private const string InvalidPath = "Invalid.cs";

    private const string InvalidSource = """
        namespace Quant.Kernels;

        [QuantFormat("no_block")]
        [Codes(4)]
        public static partial class NoBlock;
        """;

    /// <summary>Every name in <see cref="QuantFormatGenerator.TrackingNames"/>, read by reflection so a new step is covered without editing this file.</summary>
    public static IReadOnlyList<string> TrackingNames { get; } = typeof(QuantFormatGenerator.TrackingNames)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(string))
        .Select(f => (string)f.GetRawConstantValue()!)
        .ToList();

    [Fact]
    public void TrackingNames_AreFoundByReflection()
    {
        // A step added later joins the checks by itself; these four must never drop out unnoticed.
        Assert.Superset(new HashSet<string> { "Parse", "Models", "Diagnostics", "Identities" }, TrackingNames.ToHashSet());
    }

    [Fact]
    public void AddingAnUnrelatedSyntaxTree_LeavesEveryStepCachedOrUnchanged()
    {
        var first = RunCatalogue();
        var edited = first.Input.AddSyntaxTrees(GeneratorHarness.Parse(new SourceInput("Added.cs", "namespace Elsewhere; public class Added { }")));

        var second = GeneratorHarness.Run(first.Driver, edited);

        AssertEverythingCachedOrUnchanged(second);
        Assert.Equal(first.Sources, second.Sources);
    }

    [Fact]
    public void EditingAnUnrelatedClass_LeavesEveryStepCachedOrUnchanged()
    {
        var first = RunCatalogue(new SourceInput(UnrelatedPath, UnrelatedSource));
        var edited = Replace(first.Input, UnrelatedPath, UnrelatedSource
            .Replace("value * 2", "value + value", StringComparison.Ordinal)
            .Replace("// A class", "// An edited comment on a class", StringComparison.Ordinal));

        var second = GeneratorHarness.Run(first.Driver, edited);

        AssertEverythingCachedOrUnchanged(second);
    }

    [Fact]
    public void EditingAnUnrelatedClass_KeepsTheDiagnosticsOfAnInvalidDeclarationCached()
    {
        var first = RunCatalogue(new SourceInput(UnrelatedPath, UnrelatedSource), new SourceInput(InvalidPath, InvalidSource));
        Assert.Contains(first.GeneratorDiagnostics, d => d.Id == "QG0003");
        var edited = Replace(first.Input, UnrelatedPath, UnrelatedSource.Replace("value * 2", "value << 1", StringComparison.Ordinal));

        var second = GeneratorHarness.Run(first.Driver, edited);

        // The diagnostics step has an output this time, so the check below is not vacuous for it.
        Assert.NotEmpty(Outputs(second, QuantFormatGenerator.TrackingNames.Diagnostics));
        AssertEverythingCachedOrUnchanged(second);
        Assert.Contains(second.GeneratorDiagnostics, d => d.Id == "QG0003");
    }

    [Fact]
    public void MovingADeclarationInItsFile_RegeneratesNothing()
    {
        // A blank line and a comment above the attributes move every span in the file but change no model.
        var first = RunCatalogue();
        var q4 = first.Input.SyntaxTrees.Single(t => t.FilePath.EndsWith("/Q4_0.cs", StringComparison.Ordinal));
        var edited = Replace(first.Input, q4.FilePath, "// Moved down by two lines.\n\n" + q4.GetText());

        var second = GeneratorHarness.Run(first.Driver, edited);

        // Parse and Identities carry the declaration's location (for the duplicate diagnostics), so they see
        // the move; the models, the clash set and every generated file must not.
        foreach (string name in new[] { QuantFormatGenerator.TrackingNames.Models, QuantFormatGenerator.TrackingNames.Clashing })
        {
            Assert.All(Outputs(second, name), o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {o.Reason}"));
        }
        Assert.All(second.Result.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(run => run.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output: {o.Reason}"));
        Assert.Equal(first.Sources, second.Sources);
    }

    [Fact]
    public void MovingAnInvalidDeclaration_MovesItsDiagnostic_AndRegeneratesNoCode()
    {
        // Diagnostics travel in their own branch: a diagnostic that only moved must not touch the models.
        var first = RunCatalogue(new SourceInput(InvalidPath, InvalidSource));
        var edited = Replace(first.Input, InvalidPath, "// Two lines\n// further down.\n" + InvalidSource);

        var second = GeneratorHarness.Run(first.Driver, edited);

        var before = Assert.Single(first.GeneratorDiagnostics, d => d.Id == "QG0003").Location.GetLineSpan().StartLinePosition.Line;
        var after = Assert.Single(second.GeneratorDiagnostics, d => d.Id == "QG0003").Location.GetLineSpan().StartLinePosition.Line;
        Assert.Equal(before + 2, after);
        Assert.Contains(Outputs(second, QuantFormatGenerator.TrackingNames.Diagnostics), o => o.Reason == IncrementalStepRunReason.Modified);
        foreach (string name in new[] { QuantFormatGenerator.TrackingNames.Models, QuantFormatGenerator.TrackingNames.Identities, QuantFormatGenerator.TrackingNames.Clashing })
        {
            Assert.All(Outputs(second, name), o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {o.Reason}"));
        }
        Assert.Equal(first.Sources, second.Sources);
    }

    [Fact]
    public void EditingOneDescription_ModifiesThatFormatOnly()
    {
        // The positive control: the checks above would pass vacuously if nothing were ever tracked.
        var first = RunCatalogue();
        var q4 = first.Input.SyntaxTrees.Single(t => t.FilePath.EndsWith("/Q4_0.cs", StringComparison.Ordinal));
        string text = q4.GetText().ToString();
        Assert.Contains("Description = \"ggml Q4_0: 32 x 4-bit, F16 scale\"", text, StringComparison.Ordinal);
        var edited = Replace(first.Input, q4.FilePath, text.Replace("32 x 4-bit, F16 scale", "32 four-bit codes and an F16 scale", StringComparison.Ordinal));

        var second = GeneratorHarness.Run(first.Driver, edited);

        var models = Outputs(second, QuantFormatGenerator.TrackingNames.Models);
        Assert.Equal(Repository.CatalogueSources().Count(source => source.Text.Contains("[QuantFormat(", StringComparison.Ordinal)), models.Count);
        foreach (var (value, reason) in models)
        {
            var model = Assert.IsType<FormatModel>(value);
            if (model.Name == "q4_0")
            {
                Assert.Equal(IncrementalStepRunReason.Modified, reason);
                Assert.Equal("ggml Q4_0: 32 four-bit codes and an F16 scale", model.Description);
            }
            else
            {
                Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"Model of '{model.Name}' is {reason}.");
            }
        }
        Assert.Contains("32 four-bit codes and an F16 scale", second.Sources["Quant.Kernels.Q4_0.Layout.g.cs"], StringComparison.Ordinal);
        Assert.Contains(second.Result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        // Only the layout shows the description; the other targets of q4_0 come out the same.
        Assert.Equal(
            first.Sources.Where(s => !s.Key.EndsWith(".Layout.g.cs", StringComparison.Ordinal) || !s.Key.Contains(".Q4_0.", StringComparison.Ordinal)),
            second.Sources.Where(s => !s.Key.EndsWith(".Layout.g.cs", StringComparison.Ordinal) || !s.Key.Contains(".Q4_0.", StringComparison.Ordinal)));
    }

    [Fact]
    public void TrackedStepOutputs_HoldNoSymbolsSyntaxOrCompilations()
    {
        var run = RunCatalogue(new SourceInput(InvalidPath, InvalidSource));
        var problems = new List<string>();
        foreach (string name in TrackingNames)
        {
            var outputs = Outputs(run, name);
            Assert.NotEmpty(outputs);
            for (int i = 0; i < outputs.Count; i++) problems.AddRange(RoslynObjectFinder.Find(outputs[i].Value, $"{name}[{i}]"));
        }

        Assert.True(problems.Count == 0, "Incremental models hold Roslyn objects:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void RoslynObjectFinder_FindsARoslynObjectInAGraph()
    {
        // The finder's own control: a location inside a list inside a tuple is found.
        var graph = (1, new List<object> { "text", Location.None });

        Assert.Single(RoslynObjectFinder.Find(graph, "graph"));
    }

    [Fact]
    public void ModelsOfTwoSeparateCompilations_AreValueEqual()
    {
        // Caching compares a step's new output with the old one by Equals; a model with reference
        // equality somewhere inside would never be Unchanged.
        var first = Outputs(RunCatalogue(), QuantFormatGenerator.TrackingNames.Parse).Select(o => o.Value).ToList();
        var second = Outputs(RunCatalogue(), QuantFormatGenerator.TrackingNames.Parse).Select(o => o.Value).ToList();

        Assert.Equal(first.Count, second.Count);
        for (int i = 0; i < first.Count; i++)
        {
            Assert.NotSame(first[i], second[i]);
            Assert.Equal(first[i], second[i]);
            Assert.Equal(first[i].GetHashCode(), second[i].GetHashCode());
        }
    }

    private static GeneratorRun RunCatalogue(params SourceInput[] extra) =>
        GeneratorHarness.Run([.. Repository.CatalogueSources(), .. extra]);

    private static Compilation Replace(Compilation compilation, string path, string text)
    {
        var old = compilation.SyntaxTrees.Single(t => t.FilePath == path);
        return compilation.ReplaceSyntaxTree(old, GeneratorHarness.Parse(new SourceInput(path, text)));
    }

    private static IReadOnlyList<(object Value, IncrementalStepRunReason Reason)> Outputs(GeneratorRun run, string stepName)
    {
        Assert.True(run.Result.TrackedSteps.TryGetValue(stepName, out var steps), $"The step '{stepName}' did not run.");
        return steps.SelectMany(step => step.Outputs).ToList();
    }

    private static void AssertEverythingCachedOrUnchanged(GeneratorRun run)
    {
        var problems = new List<string>();
        // The driver records no step that produced nothing (Diagnostics, when every declaration is
        // valid); the steps every format passes through must be there, or the check says nothing.
        foreach (string name in new[] { QuantFormatGenerator.TrackingNames.Parse, QuantFormatGenerator.TrackingNames.Models, QuantFormatGenerator.TrackingNames.Identities })
        {
            Assert.True(run.Result.TrackedSteps.ContainsKey(name), $"The step '{name}' was not tracked on the second run.");
        }
        foreach (string name in TrackingNames)
        {
            if (run.Result.TrackedSteps.TryGetValue(name, out var steps)) Collect(name, steps, problems);
        }
        Assert.NotEmpty(run.Result.TrackedOutputSteps);
        foreach (var (name, steps) in run.Result.TrackedOutputSteps) Collect("output " + name, steps, problems);

        Assert.True(problems.Count == 0, "Steps that should have been reused were recomputed:\n" + string.Join("\n", problems));
    }

    private static void Collect(string name, IEnumerable<IncrementalGeneratorRunStep> steps, List<string> problems)
    {
        foreach (var step in steps)
        {
            foreach (var (value, reason) in step.Outputs)
            {
                if (reason is not (IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged))
                {
                    problems.Add($"  {name}: {reason} {Describe(value)}");
                }
            }
        }
    }

    private static string Describe(object value) => value switch
    {
        FormatModel model => $"model of '{model.Name}'",
        _ => value.GetType().Name,
    };
}
