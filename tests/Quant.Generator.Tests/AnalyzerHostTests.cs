using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Quant.Generator.Tests.Harness;

namespace Quant.Generator.Tests;

/// <summary>
/// The generator runs inside a consumer's compiler and IDE (it ships in Quant.Abstractions'
/// <c>analyzers/dotnet/cs</c>), so the built <c>Quant.Generator.dll</c> itself is checked here: it references
/// only what the compiler loads anyway, calls nothing that touches files, the environment, the console,
/// processes or the network (RS1035 bans these at build time; this reads the shipped IL), runs on the oldest
/// Microsoft.CodeAnalysis it claims, and never throws while a declaration is half typed.
/// </summary>
public sealed class AnalyzerHostTests
{
    /// <summary>
    /// DESIGN.md: the generator references Microsoft.CodeAnalysis.CSharp 4.14.0, which loads in every compiler
    /// since .NET SDK 9.0.300. Raising it drops those compilers; change this only with the docs.
    /// </summary>
    private static readonly Version s_claimedRoslyn = new(4, 14, 0, 0);

    private static readonly string s_generatorPath = typeof(QuantFormatGenerator).Assembly.Location;

    [Fact]
    public void Generator_ReferencesOnlyAssembliesTheCompilerLoadsItself()
    {
        // What a compiler host has: netstandard, Roslyn itself, and whatever Roslyn references (at most at the
        // version that Roslyn of the claimed version references). Anything else (System.Text.Json, a NuGet
        // package) would fail to load, or load a second copy, in some host.
        var available = new Dictionary<string, Version>(StringComparer.Ordinal)
        {
            ["netstandard"] = new Version(2, 0, 0, 0),
            ["Microsoft.CodeAnalysis"] = s_claimedRoslyn,
            ["Microsoft.CodeAnalysis.CSharp"] = s_claimedRoslyn,
        };
        foreach (var (name, version) in References(typeof(Compilation).Assembly.Location))
        {
            available.TryAdd(name, version);
        }

        var references = References(s_generatorPath);
        var problems = references
            .Where(r => !available.TryGetValue(r.Name, out var most) || r.Version > most)
            .Select(r => available.TryGetValue(r.Name, out var most) ? $"{r.Name} {r.Version} (the host has {most})" : $"{r.Name} {r.Version} (not in a compiler host)")
            .ToList();
        Assert.True(problems.Count == 0, "Quant.Generator.dll references what a compiler host lacks: " + string.Join("; ", problems));
        Assert.Contains(references, r => r.Name == "Microsoft.CodeAnalysis.CSharp");
    }

    [Fact]
    public void Generator_ClaimsTheOldestMicrosoftCodeAnalysis_AndTheseTestsRunOnIt()
    {
        var references = References(s_generatorPath).ToDictionary(r => r.Name, r => r.Version, StringComparer.Ordinal);
        Assert.Equal(s_claimedRoslyn, references["Microsoft.CodeAnalysis"]);
        Assert.Equal(s_claimedRoslyn, references["Microsoft.CodeAnalysis.CSharp"]);

        // Every test of this assembly drives the generator through the Roslyn this process loaded: it must be
        // the claimed one (the build's compiler, 5.x with the .NET 10 SDK, runs it on the newest: every project
        // that declares formats, and the NuGet sample).
        foreach (var roslyn in new[] { typeof(Compilation).Assembly, typeof(CSharpCompilation).Assembly })
        {
            Assert.Equal(s_claimedRoslyn, roslyn.GetName().Version);
            string? informational = roslyn.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            Assert.StartsWith("4.14.0", informational, StringComparison.Ordinal);
        }

        var run = GeneratorHarness.Run(Repository.CatalogueSources());
        run.AssertNoGeneratorDiagnostics();
        Assert.NotEmpty(run.Sources);
    }

    [Fact]
    public void Generator_CallsNoFileSystemEnvironmentConsoleProcessOrNetworkApi()
    {
        using var pe = new PEReader(File.OpenRead(s_generatorPath));
        var metadata = pe.GetMetadataReader();
        var problems = new SortedSet<string>(StringComparer.Ordinal);

        foreach (var handle in metadata.TypeReferences)
        {
            string type = FullName(metadata, handle);
            if (BannedType(type) is { } why) problems.Add($"{type}: {why}");
        }
        foreach (var handle in metadata.MemberReferences)
        {
            var member = metadata.GetMemberReference(handle);
            if (member.Parent.Kind != HandleKind.TypeReference) continue;
            string type = FullName(metadata, (TypeReferenceHandle)member.Parent);
            string name = metadata.GetString(member.Name);
            if (BannedMember(type, name) is { } why) problems.Add($"{type}.{name}: {why}");
        }
        foreach (var handle in metadata.MethodDefinitions)
        {
            var method = metadata.GetMethodDefinition(handle);
            if ((method.Attributes & System.Reflection.MethodAttributes.PinvokeImpl) != 0)
            {
                problems.Add($"{metadata.GetString(method.Name)}: a P/Invoke; a generator runs on every OS the compiler does");
            }
        }

        Assert.True(problems.Count == 0, "Quant.Generator.dll uses APIs a generator must not: " + string.Join("; ", problems));
    }

    [Fact]
    public void TypingADeclarationTokenByToken_NeverThrowsNorReportsAnInternalError()
    {
        // An IDE runs the generator on every keystroke, so it sees each declaration half written. One driver
        // over the successive prefixes of real declarations (an escape hatch, a codebook, planes), as an
        // editor would reuse it; the harness fails any run whose generator threw.
        foreach (string file in new[] { "Q4_K.cs", "Mxfp4.cs", "Afq3G32.cs", "Nvfp4.cs" })
        {
            string text = File.ReadAllText(Path.Combine(Repository.Root, "kernels", "Quant.Kernels", "Formats", file));
            var tokens = SyntaxFactory.ParseTokens(text).ToList();
            var driver = GeneratorHarness.CreateDriver();
            int runs = 0;
            foreach (var token in tokens)
            {
                string prefix = text.Substring(0, token.Span.End);
                var run = GeneratorHarness.Run(driver, GeneratorHarness.CreateCompilation([new SourceInput(file, prefix)]));
                driver = run.Driver;
                runs++;
                var internalErrors = run.GeneratorDiagnostics.Where(d => d.Id == "QG9999").ToList();
                Assert.True(internalErrors.Count == 0, $"{file} up to character {token.Span.End}: {GeneratorRun.Describe(internalErrors)}");
            }
            Assert.True(runs > 50, $"{file}: only {runs} prefixes were run.");
        }
    }

    private static IReadOnlyList<(string Name, Version Version)> References(string path)
    {
        using var pe = new PEReader(File.OpenRead(path));
        var metadata = pe.GetMetadataReader();
        return metadata.AssemblyReferences
            .Select(h => metadata.GetAssemblyReference(h))
            .Select(r => (metadata.GetString(r.Name), r.Version))
            .ToList();
    }

    private static string FullName(MetadataReader metadata, TypeReferenceHandle handle)
    {
        var type = metadata.GetTypeReference(handle);
        string name = metadata.GetString(type.Name);
        if (type.ResolutionScope.Kind == HandleKind.TypeReference)
        {
            return FullName(metadata, (TypeReferenceHandle)type.ResolutionScope) + "+" + name;
        }
        string ns = metadata.GetString(type.Namespace);
        return ns.Length == 0 ? name : ns + "." + name;
    }

    // In-memory text is fine (a generator writes its sources with writers over strings); anything that
    // reaches a file, a directory or a drive is not: a generator's inputs are the compilation and its
    // additional files, and its output goes through AddSource.
    private static readonly HashSet<string> s_allowedIo = new(StringComparer.Ordinal)
    {
        "System.IO.TextWriter", "System.IO.StringWriter", "System.IO.TextReader", "System.IO.StringReader", "System.IO.MemoryStream", "System.IO.Stream",
    };

    private static string? BannedType(string type) =>
        type.StartsWith("System.IO.", StringComparison.Ordinal) && !s_allowedIo.Contains(type) ? "file system access"
        : type == "System.Console" ? "console I/O"
        : type.StartsWith("System.Diagnostics.Process", StringComparison.Ordinal) ? "starting or inspecting processes"
        : type.StartsWith("System.Net.", StringComparison.Ordinal) ? "network access"
        : type.StartsWith("System.Runtime.InteropServices.DllImport", StringComparison.Ordinal) ? "native code"
        : type == "System.Threading.Thread" ? "threads of its own (the driver schedules the work)"
        : null;

    private static string? BannedMember(string type, string member) => (type, member) switch
    {
        // The compiler's iterator state machines read CurrentManagedThreadId; a newline constant is harmless.
        ("System.Environment", "get_CurrentManagedThreadId" or "get_NewLine") => null,
        ("System.Environment", _) => "environment or process state (settings come from analyzer config options)",
        ("System.Reflection.Assembly", "Load" or "LoadFrom" or "LoadFile" or "UnsafeLoadFrom" or "get_Location" or "get_CodeBase") => "loading or locating assemblies on disk",
        ("System.AppDomain", _) => "the host's app domain",
        _ => null,
    };
}
