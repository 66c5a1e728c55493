using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Conversion;
using Quant.Runtime.Isq;
using Quant.Runtime.Tests.Support;
using Quant.Runtime.Uqff;
using Xunit.Abstractions;

namespace Quant.Runtime.Tests.Conversion;

/// <summary>
/// Thousands of truncated and byte-flipped UQFF model files (a part or the residual file of a model written by
/// <c>quantize</c>) from a seeded generator: opening the model and rebuilding every layer either works or throws
/// <see cref="QuantFormatException"/>, and never allocates more than the model's files hold.
/// </summary>
public sealed class UqffModelCorruptionTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Beyond the files' size: the maps' objects, the exception and its message, the reader's dictionaries for a header's worth of names.</summary>
    private const int AllowanceBytes = 64 * 1024;

    private readonly TestTensors.TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void CorruptModels_ThrowOnlyQuantFormatException_AndAllocateLessThanTheFiles()
    {
        // A model with every kind of blob the quantizer writes: Gguf-type layers with and without bias, Unquant (rules keep
        // lm_head dense), HQQ, and MXFP4 experts (GPT-OSS), in three parts.
        var sizes = new TestCheckpoints.Sizes(Hidden: 64, Ffn: 64, Layers: 1, Vocab: 40, Experts: 2);
        var checkpoint = TestCheckpoints.Write(_dir.File("ckpt"), "gpt_oss", sizes, seed: 71);
        var options = new CheckpointQuantizerOptions { Rules = IsqRules.ParseText("lm_head = dense\nv_proj = hqq4_g64\n* = q4_0"), MaxFileBytes = 12_000 };
        string model = _dir.File("model/model.uqff");
        using (var source = CheckpointSource.Open(checkpoint.Directory))
        {
            CheckpointQuantizer.Run(QuantizePlan.Create(source, model, options), options);
        }
        var files = UqffModelFormat.FindParts(model).Select(p => p.Path).Append(_dir.File("model/residual.safetensors")).ToArray();
        Assert.True(files.Length >= 3, $"{files.Length} files");
        var originals = files.ToDictionary(f => f, File.ReadAllBytes);
        long total = originals.Values.Sum(b => (long)b.Length);

        var rng = new SplitMix64(0x7571_6666);
        int cases = 0, rejected = 0, truncations = 0, flips = 0;
        long worstOverFiles = long.MinValue;
        var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < 3000; i++)
        {
            string target = files[rng.NextInt(files.Length)];
            byte[] original = originals[target];
            int headerEnd = 8 + (int)BitConverter.ToUInt64(original, 0);
            byte[] bytes;
            string description;
            if (i % 4 == 0)
            {
                int cut = rng.NextInt(3) == 0 ? rng.NextInt(original.Length) : rng.NextInt(Math.Min(original.Length, headerEnd + 64));
                bytes = original[..cut];
                description = $"{Path.GetFileName(target)} truncated to {cut} bytes";
                truncations++;
            }
            else
            {
                bytes = (byte[])original.Clone();
                var changes = new List<int>();
                for (int c = 1 + rng.NextInt(3); c > 0; c--)
                {
                    // Most changes in the header (names, shapes, offsets, metadata), the rest in the blobs' own headers and data.
                    int at = rng.NextInt(3) == 0 ? rng.NextInt(bytes.Length) : rng.NextInt(headerEnd);
                    switch (rng.NextInt(4))
                    {
                        case 0: bytes[at] ^= (byte)(1 << rng.NextInt(8)); break;
                        case 1: bytes[at] = rng.NextByte(); break;
                        case 2: bytes[at] = (byte)"0123456789\"{}[],:"[rng.NextInt(17)]; break;
                        default: bytes[at] = (byte)(bytes[at] + 1); break;
                    }
                    changes.Add(at);
                }
                description = $"{Path.GetFileName(target)} with bytes changed at {string.Join(", ", changes)}";
                flips++;
            }
            File.WriteAllBytes(target, bytes);
            cases++;
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var opened = UqffModel.Open(model);
                for (int l = 0; l < opened.Layers.Count; l++) GC.KeepAlive(opened.ReadLayer(l));
                foreach (var e in opened.Residual.Entries) GC.KeepAlive(opened.Residual.Get(e.Name));
            }
            catch (QuantFormatException e)
            {
                rejected++;
                string reason = Reason(e.Message);
                reasons[reason] = reasons.GetValueOrDefault(reason) + 1;
            }
            catch (Exception e)
            {
                Assert.Fail($"{description} (seed {rng.Seed}, case {i}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            long files_ = total - original.Length + bytes.Length;
            worstOverFiles = Math.Max(worstOverFiles, allocated - files_);
            Assert.True(allocated < files_ + AllowanceBytes, $"{description}: opening and reading allocated {allocated} bytes for {files_} bytes of files.");
            File.WriteAllBytes(target, original);
        }
        output.WriteLine($"{cases} corrupt UQFF models ({truncations} truncated, {flips} with 1-3 bytes changed) of a {files.Length}-file model of {total} bytes:");
        output.WriteLine($"  {rejected} refused with QuantFormatException, {cases - rejected} read in full (changes in tensor data or harmless values), 0 other exceptions;");
        output.WriteLine($"  the most any open + read of every layer allocated beyond the files' size: {worstOverFiles} bytes (allowance {AllowanceBytes}).");
        output.WriteLine("  the most frequent reasons (numbers and names masked):");
        foreach (var (reason, count) in reasons.OrderByDescending(r => r.Value).Take(12)) output.WriteLine($"  {count,5}  {reason}");
        Assert.True(rejected > cases / 2, $"only {rejected} of {cases} corrupt models were refused");
    }

    private static string Reason(string message)
    {
        string text = message;
        foreach (var marker in new[] { ".uqff: ", ".safetensors: " })
        {
            int at = text.LastIndexOf(marker, StringComparison.Ordinal);
            if (at >= 0) text = text[(at + marker.Length)..];
        }
        text = System.Text.RegularExpressions.Regex.Replace(text, @"'[^']*'", "'…'");
        text = System.Text.RegularExpressions.Regex.Replace(text, @"\d+", "N");
        return text.Length > 110 ? text[..110] + "…" : text;
    }
}
