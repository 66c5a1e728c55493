using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Quant.Generator.Helpers;

namespace Quant.Generator.Diagnostics;

/// <summary>
/// A diagnostic as plain values (descriptor id, location parts, message arguments), so it can travel
/// through the incremental pipeline without holding a syntax tree or symbol.
/// </summary>
internal sealed record DiagnosticInfo(string Id, string? FilePath, TextSpan Span, LinePositionSpan LineSpan, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params object?[] arguments)
    {
        var args = arguments.Select(a => a?.ToString() ?? "").ToEquatableArray();
        if (location is null || !location.IsInSource)
        {
            return new DiagnosticInfo(descriptor.Id, null, default, default, args);
        }
        var line = location.GetLineSpan();
        return new DiagnosticInfo(descriptor.Id, line.Path, location.SourceSpan, line.Span, args);
    }

    /// <summary>True unless the descriptor is a warning: an error means nothing is generated for the declaration.</summary>
    public bool IsError => Descriptors.ById(Id).DefaultSeverity == DiagnosticSeverity.Error;

    public Diagnostic ToDiagnostic()
    {
        var descriptor = Descriptors.ById(Id);
        var location = FilePath is null ? Location.None : Location.Create(FilePath, Span, LineSpan);
        return Diagnostic.Create(descriptor, location, Arguments.Cast<object>().ToArray());
    }

    private static class Descriptors
    {
        private static readonly DiagnosticDescriptor[] s_all = typeof(DiagnosticDescriptors)
            .GetFields()
            .Select(f => f.GetValue(null))
            .OfType<DiagnosticDescriptor>()
            .ToArray();

        public static DiagnosticDescriptor ById(string id) =>
            Array.Find(s_all, d => d.Id == id) ?? DiagnosticDescriptors.InternalError;
    }
}
