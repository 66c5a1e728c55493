using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace Quant.Cli.Tests;

/// <summary>What one in-process run of <c>quant</c> returned and wrote.</summary>
internal sealed record CliResult(int ExitCode, string Out, string Err)
{
    /// <summary>The non-empty lines written to stderr.</summary>
    public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}; stdout: {Out}; stderr: {Err}";
}

internal static class CliRunner
{
    /// <summary>Runs <c>quant</c> in-process with its own writers.</summary>
    public static CliResult Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Cli.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>Runs and asserts exit code 0 and an empty stderr.</summary>
    public static CliResult Ok(params string[] args)
    {
        var result = Run(args);
        Assert.True(result.ExitCode == 0 && result.Err.Length == 0, $"quant {string.Join(' ', args)} failed: {result}");
        return result;
    }
}

/// <summary>A fresh folder per test, deleted afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "quant-cli-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>A path inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The names of every file in the folder, hidden ones (AtomicFile's partial files) included.</summary>
    public string[] FileNames() => Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray()!;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Repo
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "Quant.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} holds Quant.sln.");
    });

    /// <summary>The folder that holds Quant.sln.</summary>
    public static string Root => s_root.Value;

    /// <summary>ggml's reference vectors.</summary>
    public static string PeerVectors => System.IO.Path.Combine(Root, "tests", "data", "peer-vectors");
}

/// <summary>Raw little-endian files, read and written independently of the code under test.</summary>
internal static class Raw
{
    public static float[] ReadFloats(string path) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();

    public static double[] ReadDoubles(string path) => MemoryMarshal.Cast<byte, double>(File.ReadAllBytes(path)).ToArray();

    public static void WriteFloats(string path, float[] values) => File.WriteAllBytes(path, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>Seeded N(0, scale^2) floats (Box-Muller over System.Random), for fresh data the peer vectors have not seen.</summary>
    public static float[] Gaussian(int count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = scale * (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return values;
    }

    /// <summary>Asserts two byte sequences are identical, naming the first differing offset.</summary>
    public static void AssertSameBytes(byte[] expected, byte[] actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} bytes, expected {expected.Length}.");
        int first = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(first == expected.Length,
            $"{what}: first difference at byte {first}: expected 0x{(first < expected.Length ? expected[first] : 0):X2}, got 0x{(first < actual.Length ? actual[first] : 0):X2}.");
    }

    /// <summary>Asserts two float arrays are equal bit for bit, naming the first difference.</summary>
    public static void AssertSameFloats(float[] expected, float[] actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} floats, expected {expected.Length}.");
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
            {
                Assert.Fail($"{what}: element {i}: expected {expected[i]:R} (0x{BitConverter.SingleToUInt32Bits(expected[i]):X8}), got {actual[i]:R} (0x{BitConverter.SingleToUInt32Bits(actual[i]):X8}).");
            }
        }
    }

    /// <summary>Concatenates byte arrays.</summary>
    public static byte[] Concat(IEnumerable<byte[]> parts) => parts.SelectMany(p => p).ToArray();
}
