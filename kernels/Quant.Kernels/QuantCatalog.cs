using System.Collections.Generic;
using System.Runtime.CompilerServices;

namespace Quant.Kernels;

/// <summary>The built-in formats. Each registers itself when this assembly loads; <see cref="EnsureRegistered"/> makes sure it has.</summary>
public static class QuantCatalog
{
    /// <summary>Loads this assembly (running its module initializers), so every built-in format is in <see cref="QuantFormatRegistry"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void EnsureRegistered()
    {
        // Touching a type of this assembly is enough: its module initializers have run before this line.
        RuntimeHelpers.RunModuleConstructor(typeof(QuantCatalog).Module.ModuleHandle);
    }

    /// <summary>Every registered format (built-in and any user assembly loaded so far), ordered by name.</summary>
    public static IReadOnlyList<QuantFormatEntry> All
    {
        get
        {
            EnsureRegistered();
            return QuantFormatRegistry.All;
        }
    }
}
