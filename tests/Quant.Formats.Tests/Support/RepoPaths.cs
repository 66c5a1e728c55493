using System;
using System.IO;

namespace Quant.Formats.Tests.Support;

/// <summary>Finds the repository (the folder holding Quant.sln) from the test binaries, so data paths do not depend on the working directory.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    public static string Root => s_root.Value;

    /// <summary>tests/data/peer-vectors: ggml's reference data.</summary>
    public static string PeerVectors => Path.Combine(Root, "tests", "data", "peer-vectors");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Quant.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} holds Quant.sln.");
    }
}
