namespace Quant.Formats.Tests.Conformance;

internal static partial class ConformanceFormats
{
    // The formats this assembly declares; the built-in catalogue runs the same suite in Quant.Formats.Tests.
    internal static partial bool Includes(QuantFormatEntry entry) => entry.FormatType.Assembly == typeof(ConformanceFormats).Assembly;
}
