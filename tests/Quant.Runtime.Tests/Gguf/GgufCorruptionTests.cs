using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Gguf;
using Xunit.Abstractions;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>
/// Thousands of truncated and byte-flipped GGUF files from a seeded generator: opening and reading each one
/// either works or throws <see cref="QuantFormatException"/>, and never allocates more than the file's size.
/// </summary>
public sealed class GgufCorruptionTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>
    /// What an open may allocate beyond the file's size: the mapping's objects (FileStream, handles, view),
    /// the exception with its message and stack trace, and the reader's lists for a header's worth of keys.
    /// </summary>
    public const int AllowanceBytes = 32 * 1024;

    private readonly string _dir = Directory.CreateTempSubdirectory("quant-gguf-corrupt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CorruptFiles_ThrowOnlyQuantFormatException_AndAllocateLessThanTheFile()
    {
        var bases = new List<(string Name, byte[] Bytes, long DataOffset)>();
        string rich = Path.Combine(_dir, "rich.gguf");
        GgufSamples.Write(rich, GgufSamples.RichMetadata(alignment: 32), GgufSamples.Tensors(seed: 9, rows: 4));
        string llama = Path.Combine(_dir, "llama.gguf");
        var config = new LlamaConfig(32, 64, 1, 128, 2, 1, 1e-5f, 260);
        LlamaGguf.Write(llama, config, TinyLlama.AsCheckpoint(TinyLlama.Create(config, seed: 3)), new LlamaGgufOptions { Type = "q8_0" });
        foreach (var path in new[] { rich, llama })
        {
            using var file = GgufFile.Open(path);
            bases.Add((Path.GetFileName(path), File.ReadAllBytes(path), file.DataOffset));
        }

        var rng = new SplitMix64(0x6767_7566);
        string target = Path.Combine(_dir, "case.gguf");
        int cases = 0, rejected = 0, truncations = 0, flips = 0;
        long worstOverFile = long.MinValue;
        var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, original, dataOffset) in bases)
        {
            for (int i = 0; i < 2000; i++)
            {
                byte[] bytes;
                string description;
                if (i < 500)
                {
                    // Truncations: most inside the header, where every count and length is read.
                    long cut = rng.NextInt(4) == 0 ? rng.NextInt(original.Length) : rng.NextInt((int)dataOffset + 64);
                    bytes = original[..(int)cut];
                    description = $"{name} truncated to {cut} bytes";
                    truncations++;
                }
                else
                {
                    bytes = (byte[])original.Clone();
                    int count = 1 + rng.NextInt(4);
                    var changes = new List<string>();
                    for (int c = 0; c < count; c++)
                    {
                        int at = rng.NextInt(10) == 0 ? rng.NextInt(bytes.Length) : rng.NextInt((int)dataOffset);
                        switch (rng.NextInt(4))
                        {
                            case 0: bytes[at] ^= (byte)(1 << rng.NextInt(8)); break;
                            case 1: bytes[at] = rng.NextByte(); break;
                            case 2: for (int k = at; k < Math.Min(bytes.Length, at + 8); k++) bytes[k] = 0xFF; break;
                            default: bytes[at] = (byte)(bytes[at] + 1); break;
                        }
                        changes.Add(at.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }
                    description = $"{name} with bytes changed at {string.Join(", ", changes)}";
                    flips++;
                }
                File.WriteAllBytes(target, bytes);
                cases++;
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    using var file = GgufFile.Open(target);
                    ReadEverything(file);
                }
                catch (QuantFormatException e)
                {
                    rejected++;
                    string reason = Reason(e.Message);
                    reasons[reason] = reasons.GetValueOrDefault(reason) + 1;
                }
                catch (Exception e)
                {
                    Assert.Fail($"{description} (seed {rng.Seed}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                worstOverFile = Math.Max(worstOverFile, allocated - bytes.Length);
                Assert.True(allocated < bytes.Length + AllowanceBytes,
                    $"{description}: opening and reading allocated {allocated} bytes for a {bytes.Length}-byte file.");
            }
        }
        output.WriteLine($"{cases} corrupt GGUF files ({truncations} truncated, {flips} with 1-4 bytes changed) from {bases.Count} valid ones ({string.Join(", ", bases.Select(b => $"{b.Name} {b.Bytes.Length} bytes"))}):");
        output.WriteLine($"  {rejected} refused with QuantFormatException, {cases - rejected} read in full (changes in tensor data or harmless values), 0 other exceptions;");
        output.WriteLine($"  the most any open + read allocated beyond the file's size: {worstOverFile} bytes (allowance {AllowanceBytes}).");
        output.WriteLine("  the most frequent reasons (numbers and names masked):");
        foreach (var (reason, count) in reasons.OrderByDescending(r => r.Value).Take(12)) output.WriteLine($"  {count,5}  {reason}");
        Assert.True(rejected > cases / 2, $"only {rejected} of {cases} corrupt files were refused");
    }

    // Reads every metadata value to the end (arrays decoded, nested ones too) and touches every tensor byte.
    private static void ReadEverything(GgufFile file)
    {
        foreach (var (_, value) in file.Metadata) Touch(value);
        long sum = 0;
        foreach (var tensor in file.Tensors)
        {
            foreach (byte b in file.GetData(tensor)) sum += b;
        }
        GC.KeepAlive(sum);
    }

    private static void Touch(GgufValue value)
    {
        if (value.Type == GgufValueType.String) GC.KeepAlive(value.AsString());
        if (value.Type != GgufValueType.Array) return;
        var array = value.AsArray();
        switch (array.ElementType)
        {
            case GgufValueType.String: GC.KeepAlive(array.ToStringArray()); break;
            case GgufValueType.Array: foreach (var inner in array.ToArrays()) Touch(GgufValue.FromArray(inner)); break;
            case GgufValueType.UInt8: GC.KeepAlive(array.ToArray<byte>()); break;
            default: foreach (var element in array.Elements()) GC.KeepAlive(element); break;
        }
    }

    // The message without the file name, numbers and quoted names: what kind of check refused it.
    private static string Reason(string message)
    {
        int colon = message.IndexOf(": ", StringComparison.Ordinal);
        string text = colon >= 0 ? message[(colon + 2)..] : message;
        text = System.Text.RegularExpressions.Regex.Replace(text, @"'[^']*'", "'…'");
        text = System.Text.RegularExpressions.Regex.Replace(text, @"\d+", "N");
        return text.Length > 110 ? text[..110] + "…" : text;
    }
}
