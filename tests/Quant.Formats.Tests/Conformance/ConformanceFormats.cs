using System.Collections.Generic;
using System.Linq;
using Quant.Kernels;

namespace Quant.Formats.Tests.Conformance;

/// <summary>
/// Which registered formats a test assembly runs the conformance suite on. The suite's source is shared by
/// the test projects; each project says which formats are its own by implementing <see cref="Includes"/>
/// (Quant.Formats.Tests: every registered format; Quant.CustomFormats.Tests: the formats it declares), so a
/// format is covered by being registered and no format runs the suite twice.
/// </summary>
internal static partial class ConformanceFormats
{
    /// <summary>True when this assembly runs the suite on <paramref name="entry"/>.</summary>
    internal static partial bool Includes(QuantFormatEntry entry);

    /// <summary>The formats in scope, after the built-in catalogue and this assembly's own declarations have registered.</summary>
    public static IReadOnlyList<QuantFormatEntry> All
    {
        get
        {
            QuantCatalog.EnsureRegistered();
            System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(ConformanceFormats).Module.ModuleHandle);
            return QuantFormatRegistry.All.Where(Includes).ToArray();
        }
    }

    /// <summary>Format names as theory data.</summary>
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var entry in All) data.Add(entry.Info.Name);
        return data;
    }

    public static QuantFormatEntry Get(string name)
    {
        var entry = QuantFormatRegistry.Get(name);
        Assert.True(Includes(entry), $"Format '{name}' is not in this assembly's conformance scope.");
        return entry;
    }
}
