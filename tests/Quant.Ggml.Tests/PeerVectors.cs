using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Quant.Ggml.Tests;

/// <summary>One case folder of tests/data/peer-vectors: ggml's input, blocks and importance matrix.</summary>
internal sealed class PeerCase
{
    public required string Type { get; init; }
    public required string Name { get; init; }
    public required int Rows { get; init; }
    public required int Cols { get; init; }
    public required int BlockSize { get; init; }
    public required int TypeSize { get; init; }
    public required float[] Input { get; init; }
    public required byte[] Quant { get; init; }

    /// <summary>The importance of each column (cols floats), or null where the case has none.</summary>
    public required float[]? Imatrix { get; init; }

    /// <summary>iq4_nl rowref cases: blocks (row-major index) whose nibbles ggml left unset.</summary>
    public required HashSet<int> UnsetNibbleBlocks { get; init; }

    public int BlocksPerRow => Cols / BlockSize;

    public ReadOnlySpan<float> Row(int row) => Input.AsSpan(row * Cols, Cols);

    public ReadOnlySpan<float> BlockValues(int row, int block) => Input.AsSpan(row * Cols + block * BlockSize, BlockSize);

    /// <summary>The block's importance: the same imatrix for every row, columns block*size .. +size-1; empty without one.</summary>
    public ReadOnlySpan<float> BlockImportance(int block) => Imatrix is null ? default : Imatrix.AsSpan(block * BlockSize, BlockSize);

    public ReadOnlySpan<byte> BlockBytes(int row, int block) => Quant.AsSpan((row * BlocksPerRow + block) * TypeSize, TypeSize);
}

internal static class PeerVectors
{
    private static readonly Lazy<string> Root = new(FindDataRoot);

    /// <summary>The case folders of a type, as xunit theory data (sorted, so test names are stable).</summary>
    public static IEnumerable<object[]> CaseNames(string type)
        => Directory.GetDirectories(Path.Combine(Root.Value, type))
            .Select(Path.GetFileName)
            .OrderBy(name => name, StringComparer.Ordinal)
            .Select(name => new object[] { name! });

    public static PeerCase Load(string type, string caseName)
    {
        string folder = Path.Combine(Root.Value, type, caseName);
        using JsonDocument meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "meta.json")));
        JsonElement m = meta.RootElement;
        Assert.Equal(type, m.GetProperty("type").GetString());
        int rows = m.GetProperty("rows").GetInt32();
        int cols = m.GetProperty("cols").GetInt32();
        bool hasImatrix = m.GetProperty("imatrix").GetBoolean();
        var unset = new HashSet<int>();
        if (m.TryGetProperty("unset_nibble_blocks", out JsonElement list))
        {
            foreach (JsonElement e in list.EnumerateArray()) unset.Add(e.GetInt32());
        }
        var peer = new PeerCase
        {
            Type = type,
            Name = caseName,
            Rows = rows,
            Cols = cols,
            BlockSize = m.GetProperty("block_size").GetInt32(),
            TypeSize = m.GetProperty("type_size").GetInt32(),
            Input = ReadFloats(Path.Combine(folder, "input.f32")),
            Quant = File.ReadAllBytes(Path.Combine(folder, "quant.bin")),
            Imatrix = hasImatrix ? ReadFloats(Path.Combine(folder, "imatrix.f32")) : null,
            UnsetNibbleBlocks = unset,
        };
        Assert.Equal(rows * cols, peer.Input.Length);
        Assert.Equal(rows * peer.BlocksPerRow * peer.TypeSize, peer.Quant.Length);
        if (peer.Imatrix is not null) Assert.Equal(cols, peer.Imatrix.Length);
        return peer;
    }

    private static float[] ReadFloats(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        // The files are little-endian float32, as is every machine .NET runs these tests on.
        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }

    private static string FindDataRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Quant.sln"))) return Path.Combine(dir.FullName, "tests", "data", "peer-vectors");
        }
        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} holds Quant.sln.");
    }
}
