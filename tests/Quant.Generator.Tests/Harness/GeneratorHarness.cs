using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Quant.Generator.Tests.Harness;

/// <summary>One source file of a test compilation. The path is what diagnostics point at.</summary>
internal sealed record SourceInput(string Path, string Text);

/// <summary>
/// Builds compilations the way a consumer project would (C# latest, nullable on, a class library that
/// references the running framework and Quant.Abstractions) and runs <see cref="QuantFormatGenerator"/>
/// over them through a step-tracking <see cref="CSharpGeneratorDriver"/>.
/// </summary>
internal static class GeneratorHarness
{
    /// <summary>
    /// Latest language version; documentation comments are parsed and checked, so a malformed
    /// <c>///</c> comment in generated code shows up as a warning, as it would in a project that
    /// builds its XML docs with warnings as errors.
    /// </summary>
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    private static readonly CSharpCompilationOptions s_compilationOptions = new(
        OutputKind.DynamicallyLinkedLibrary,
        nullableContextOptions: NullableContextOptions.Enable);

    // Reading ~170 framework assemblies costs more than a whole test; every compilation shares them.
    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(LoadReferences);

    public static SyntaxTree Parse(SourceInput source) =>
        CSharpSyntaxTree.ParseText(source.Text, ParseOptions, source.Path, Encoding.UTF8);

    public static CSharpCompilation CreateCompilation(IEnumerable<SourceInput> sources) =>
        CSharpCompilation.Create("Quant.Generator.Tests.Input", sources.Select(Parse), s_references.Value, s_compilationOptions);

    public static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create(
            new[] { new QuantFormatGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Compiles <paramref name="sources"/> and runs the generator once on a fresh driver.</summary>
    public static GeneratorRun Run(params SourceInput[] sources) => Run(CreateDriver(), CreateCompilation(sources));

    /// <summary>Compiles a single file, <c>Declarations.cs</c>, and runs the generator on it.</summary>
    public static GeneratorRun Run(string source) => Run(new SourceInput("Declarations.cs", source));

    /// <summary>
    /// Runs <paramref name="driver"/> on <paramref name="compilation"/>. Pass the driver of an earlier run
    /// (<see cref="GeneratorRun.Driver"/>) to see which steps the generator could reuse.
    /// </summary>
    public static GeneratorRun Run(GeneratorDriver driver, Compilation compilation)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        return new GeneratorRun(driver, compilation, output, generatorDiagnostics);
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // Only the framework's own assemblies: the test host's list also holds xunit, Roslyn and our
        // projects, which a consumer's compilation would not see.
        string frameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        string trusted = (string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")
            ?? throw new InvalidOperationException("The runtime gives no TRUSTED_PLATFORM_ASSEMBLIES.");
        var framework = trusted
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(path => string.Equals(Path.GetDirectoryName(path), frameworkDirectory, StringComparison.Ordinal))
            .Where(path => path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase));
        return framework
            .Append(typeof(QuantFormatAttribute).Assembly.Location)
            .Distinct(StringComparer.Ordinal)
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToImmutableArray();
    }
}

/// <summary>The outcome of one generator run: the generated sources, the diagnostics and the driver's record of it.</summary>
internal sealed class GeneratorRun
{
    private readonly Lazy<ImmutableArray<Diagnostic>> _outputDiagnostics;

    public GeneratorRun(GeneratorDriver driver, Compilation input, Compilation output, ImmutableArray<Diagnostic> generatorDiagnostics)
    {
        Driver = driver;
        Input = input;
        Output = output;
        GeneratorDiagnostics = generatorDiagnostics;
        RunResult = driver.GetRunResult();
        Result = Assert.Single(RunResult.Results);
        Sources = Result.GeneratedSources
            .OrderBy(s => s.HintName, StringComparer.Ordinal)
            .ToDictionary(s => s.HintName, s => s.SourceText.ToString(), StringComparer.Ordinal);
        GeneratedTrees = Result.GeneratedSources.Select(s => s.SyntaxTree).ToImmutableArray();
        // Binding the output is the slow part of a run; only the tests that need it pay for it.
        _outputDiagnostics = new(() => output.GetDiagnostics());

        // A generator must never throw: every test checks it, through this one place.
        if (Result.Exception is not null)
        {
            Assert.Fail($"The generator threw instead of reporting a diagnostic: {Result.Exception}");
        }
    }

    /// <summary>The driver after this run; run it again to check caching.</summary>
    public GeneratorDriver Driver { get; }

    public Compilation Input { get; }

    /// <summary>The input compilation with the generated sources added.</summary>
    public Compilation Output { get; }

    public GeneratorDriverRunResult RunResult { get; }

    /// <summary>The result of the one generator under test: tracked steps, sources, exception.</summary>
    public GeneratorRunResult Result { get; }

    /// <summary>What the generator reported.</summary>
    public ImmutableArray<Diagnostic> GeneratorDiagnostics { get; }

    /// <summary>Generated sources by hint name (<c>Namespace.Class.Target.g.cs</c>).</summary>
    public IReadOnlyDictionary<string, string> Sources { get; }

    public ImmutableArray<SyntaxTree> GeneratedTrees { get; }

    /// <summary>Every diagnostic of the output compilation (declarations and generated code).</summary>
    public ImmutableArray<Diagnostic> OutputDiagnostics => _outputDiagnostics.Value;

    /// <summary>The generated hint names of the class <paramref name="typeName"/> (<c>Namespace.Class</c>, or <c>Class</c> in the global namespace).</summary>
    public IReadOnlyList<string> SourcesOf(string typeName) =>
        Sources.Keys.Where(hint => hint.StartsWith(typeName + ".", StringComparison.Ordinal)
            && hint.Count(c => c == '.') == typeName.Count(c => c == '.') + 3).ToList();

    /// <summary>Fails with a readable list when the generator reported anything.</summary>
    public void AssertNoGeneratorDiagnostics()
    {
        if (GeneratorDiagnostics.Length > 0)
        {
            Assert.Fail("The generator reported diagnostics for declarations that should be valid:\n" + Describe(GeneratorDiagnostics));
        }
    }

    /// <summary>
    /// Fails when the output compilation has an error anywhere, or a warning in generated code (which
    /// a consumer that treats warnings as errors could not build).
    /// </summary>
    public void AssertOutputCompiles()
    {
        var generated = GeneratedTrees.ToHashSet();
        var problems = OutputDiagnostics
            .Where(d => d.Severity == DiagnosticSeverity.Error
                || (d.Severity == DiagnosticSeverity.Warning && d.Location.SourceTree is { } tree && generated.Contains(tree)))
            .ToList();
        if (problems.Count > 0)
        {
            Assert.Fail($"The output compilation has {problems.Count} problem(s):\n" + Describe(problems));
        }
    }

    /// <summary>Diagnostics as lines of <c>ID at path(line,col): message</c>, followed by the source line they point at.</summary>
    public static string Describe(IEnumerable<Diagnostic> diagnostics)
    {
        var text = new StringBuilder();
        foreach (var d in diagnostics.Take(20))
        {
            var span = d.Location.GetLineSpan();
            text.Append("  ").Append(d.Id).Append(' ').Append(d.Severity).Append(" at ")
                .Append(span.Path).Append('(').Append(span.StartLinePosition.Line + 1).Append(',')
                .Append(span.StartLinePosition.Character + 1).Append("): ").AppendLine(d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
            if (d.Location.SourceTree is { } tree)
            {
                var line = tree.GetText().Lines[span.StartLinePosition.Line];
                text.Append("      | ").AppendLine(line.ToString().Trim());
            }
        }
        return text.ToString();
    }
}
