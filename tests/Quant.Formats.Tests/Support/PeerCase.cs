using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Quant.Formats.Tests.Support;

/// <summary>One case folder of ggml's peer vectors (<c>tests/data/peer-vectors/&lt;type&gt;/&lt;case&gt;</c>).</summary>
internal sealed class PeerCase
{
    public PeerCase(string ggmlType, string caseName)
    {
        GgmlType = ggmlType;
        Name = caseName;
        Folder = Path.Combine(RepoPaths.PeerVectors, ggmlType, caseName);
        using var meta = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "meta.json")));
        Rows = meta.RootElement.GetProperty("rows").GetInt32();
        Cols = meta.RootElement.GetProperty("cols").GetInt32();
        TypeSize = meta.RootElement.GetProperty("type_size").GetInt32();
        BlockSize = meta.RootElement.GetProperty("block_size").GetInt32();
    }

    public string GgmlType { get; }
    public string Name { get; }
    public string Folder { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int TypeSize { get; }
    public int BlockSize { get; }

    public float[] Floats(string file) => MemoryMarshal.Cast<byte, float>(Bytes(file)).ToArray();

    public double[] Doubles(string file) => MemoryMarshal.Cast<byte, double>(Bytes(file)).ToArray();

    public byte[] Bytes(string file) => File.ReadAllBytes(Path.Combine(Folder, file));

    /// <summary>The case folders of a ggml type, without the <c>*-imatrix</c> ones (their quantizer is not ported yet).</summary>
    public static IReadOnlyList<string> CaseNames(string ggmlType)
        => Directory.GetDirectories(Path.Combine(RepoPaths.PeerVectors, ggmlType))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(name => !name.EndsWith("-imatrix", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToArray();

    public override string ToString() => $"{GgmlType}/{Name}";
}
