using System.Linq;
using System.Reflection;
using Quant.Formats.Tests.Conformance;
using Quant.Kernels;

namespace Quant.Formats.Tests;

/// <summary>The conformance suite runs here on the whole built-in catalogue: every declaration is registered and in scope.</summary>
public sealed class ConformanceScopeTests
{
    [Fact]
    public void EveryBuiltInDeclaration_IsRegistered_AndRunsTheConformanceSuite()
    {
        var declared = typeof(QuantCatalog).Assembly.GetTypes()
            .Select(t => t.GetCustomAttribute<QuantFormatAttribute>()?.Name)
            .OfType<string>()
            .Order()
            .ToArray();
        var inScope = ConformanceFormats.All.Select(e => e.Info.Name).ToHashSet();
        Assert.True(declared.Length >= 25, $"only {declared.Length} declarations found in Quant.Kernels");
        foreach (string name in declared)
        {
            Assert.True(QuantFormatRegistry.TryGet(name, out _), $"'{name}' is declared in Quant.Kernels but not registered");
            Assert.Contains(name, inScope);
        }
    }
}
