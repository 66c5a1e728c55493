using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Quant.Generator.Diagnostics;
using Quant.Generator.Emitters;
using Quant.Generator.Helpers;
using Quant.Generator.Model;

namespace Quant.Generator;

/// <summary>
/// Turns each <c>[QuantFormat]</c> declaration into its layout, CPU kernels, UQFF serialization,
/// registration and GPU kernel source. The pipeline: parse each declaration into a value-equal <see cref="FormatModel"/>
/// (diagnostics split off into their own branch), then one emitter per target formats that model.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class QuantFormatGenerator : IIncrementalGenerator
{
    /// <summary>The names of the tracked pipeline steps (tests check their run reasons).</summary>
    public static class TrackingNames
    {
        /// <summary>Declarations parsed into models and diagnostics.</summary>
        public const string Parse = nameof(Parse);
        /// <summary>Valid models only.</summary>
        public const string Models = nameof(Models);
        /// <summary>Diagnostics of single declarations.</summary>
        public const string Diagnostics = nameof(Diagnostics);
        /// <summary>The identities of every format in the compilation, for duplicate checks.</summary>
        public const string Identities = nameof(Identities);
        /// <summary>The type names of formats that clash with another (no output for them).</summary>
        public const string Clashing = nameof(Clashing);
    }

    /// <summary>The generated file targets, each formatted from the same model.</summary>
    internal static readonly IReadOnlyList<(string Target, System.Func<FormatModel, string?> Emit)> Targets =
    [
        ("Layout", LayoutEmitter.Emit),
        ("Cpu", CpuEmitter.Emit),
        ("Uqff", UqffEmitter.Emit),
        ("Registration", RegistrationEmitter.Emit),
        ("OpenCl", DeviceCEmitter.Emit),
    ];

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                "Quant.QuantFormatAttribute",
                static (node, _) => node is TypeDeclarationSyntax,
                static (ctx, ct) => Parser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        var diagnostics = parsed
            .SelectMany(static (result, _) => result.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, diagnostic) => spc.ReportDiagnostic(diagnostic.ToDiagnostic()));

        var identities = parsed
            .Where(static result => result.Identity is not null)
            .Select(static (result, _) => result.Identity!)
            .Collect()
            .WithTrackingName(TrackingNames.Identities);
        context.RegisterSourceOutput(identities, static (spc, all) => ReportDuplicates(spc, all));

        // Formats that clash with another get no output, like any other invalid declaration.
        var clashing = identities
            .Select(static (all, _) => Clashing(all))
            .WithTrackingName(TrackingNames.Clashing);

        var models = parsed
            .Where(static result => result.Model is not null)
            .Select(static (result, _) => result.Model!)
            .Combine(clashing)
            .Where(static pair => !pair.Right.Contains(pair.Left.TypeName))
            .Select(static (pair, _) => pair.Left)
            .WithTrackingName(TrackingNames.Models);

        foreach (var (target, emit) in Targets)
        {
            context.RegisterSourceOutput(models, (spc, model) =>
            {
                string? source;
                try
                {
                    source = emit(model);
                }
                catch (System.Exception e)
                {
                    // An emitter bug must not take the other formats' output down with it.
                    spc.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InternalError, Location.None, model.TypeName, $"{target}: {e.GetType().Name}: {e.Message}"));
                    return;
                }
                if (source is not null) spc.AddSource(HintName(model, target), source);
            });
        }
    }

    /// <summary>The generated file's name: namespace, containing types, class and target.</summary>
    internal static string HintName(FormatModel model, string target) =>
        (model.Type.Namespace.Length == 0 ? "" : model.Type.Namespace + ".") + model.Type.FileStem + "." + target + ".g.cs";

    private static System.Collections.Generic.IEnumerable<(FormatIdentity A, FormatIdentity B, DiagnosticDescriptor Rule, string What)> Clashes(ImmutableArray<FormatIdentity> all)
    {
        var ordered = all.OrderBy(i => i.TypeName, System.StringComparer.Ordinal).ToList();
        for (int i = 0; i < ordered.Count; i++)
        {
            for (int j = i + 1; j < ordered.Count; j++)
            {
                var a = ordered[i];
                var b = ordered[j];
                if (a.Name == b.Name) yield return (a, b, DiagnosticDescriptors.DuplicateName, a.Name);
                if (a.GgufType >= 0 && a.GgufType == b.GgufType) yield return (a, b, DiagnosticDescriptors.DuplicateGguf, a.GgufType.ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (a.Uqff is UqffLayerKind.Mxfp4 or UqffLayerKind.Fp8 or UqffLayerKind.F8Q8 && a.Uqff == b.Uqff) yield return (a, b, DiagnosticDescriptors.DuplicateUqff, a.Uqff.ToString());
                // Afq and Hqq layers carry their bits and group size: only formats that share both clash.
                if (a.Uqff is UqffLayerKind.Afq or UqffLayerKind.Hqq && a.Uqff == b.Uqff && a.CodeBits == b.CodeBits && a.BlockSize == b.BlockSize)
                {
                    yield return (a, b, DiagnosticDescriptors.DuplicateUqff, $"{a.Uqff} with {a.CodeBits}-bit codes in groups of {a.BlockSize}");
                }
            }
        }
    }

    private static Helpers.EquatableArray<string> Clashing(ImmutableArray<FormatIdentity> all) =>
        Clashes(all).SelectMany(c => new[] { c.A.TypeName, c.B.TypeName }).Distinct().OrderBy(n => n, System.StringComparer.Ordinal).ToEquatableArray();

    private static void ReportDuplicates(SourceProductionContext context, ImmutableArray<FormatIdentity> all)
    {
        foreach (var (a, b, rule, what) in Clashes(all))
        {
            // Reported at both declarations, each naming the other.
            foreach (var (here, other) in new[] { (a, b), (b, a) })
            {
                object[] arguments = rule == DiagnosticDescriptors.DuplicateName ? [what, here.TypeName, other.TypeName] : [here.TypeName, other.TypeName, what];
                var location = here.Where.FilePath is null ? Location.None : Location.Create(here.Where.FilePath, here.Where.Span, here.Where.LineSpan);
                context.ReportDiagnostic(Diagnostic.Create(rule, location, arguments));
            }
        }
    }
}
