using System;
using System.IO;
using System.Linq;

namespace Quant.Generator.Tests.Harness;

/// <summary>Paths in the repository this test assembly was built from.</summary>
internal static class Repository
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The folder that holds <c>Quant.sln</c>.</summary>
    public static string Root => s_root.Value;

    /// <summary>The verified generated sources, one file per format and target.</summary>
    public static string SnapshotDirectory => Path.Combine(Root, "snapshots");

    /// <summary>
    /// The built-in format declarations, <c>kernels/Quant.Kernels/Formats/*.cs</c>, read as source text
    /// (the generator sees exactly what the Quant.Kernels build sees), ordered by path.
    /// </summary>
    public static SourceInput[] CatalogueSources()
    {
        string directory = Path.Combine(Root, "kernels", "Quant.Kernels", "Formats");
        var sources = Directory.GetFiles(directory, "*.cs")
            .OrderBy(path => path, StringComparer.Ordinal)
            .Select(path => new SourceInput(Path.GetRelativePath(Root, path).Replace('\\', '/'), File.ReadAllText(path)))
            .ToArray();
        Assert.True(sources.Length > 0, $"No format declarations found in {directory}.");
        return sources;
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Quant.sln"))) return directory.FullName;
        }
        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} holds Quant.sln.");
    }
}
