using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using Quant.Kernels;
using Quant.Runtime.Conversion;
using Quant.Runtime.Gguf;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Xunit.Abstractions;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>
/// llama.cpp (through node-llama-cpp's prebuilt CPU binary) loads the GGUF files Quant writes and computes
/// the logits a float64 forward pass of the same checkpoint computes.
/// </summary>
public sealed class LlamaCppTests(ITestOutputHelper output) : IDisposable
{
    private static readonly int[] s_tokens = [382, 72, 101, 108, 108, 111, 32, 255, 0, 300, 17, 99];
    private readonly string _dir = Directory.CreateTempSubdirectory("quant-llama-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [NodeFact]
    public void LlamaCpp_F32Q8_0Q4_K_LogitsMatchTheFloat64Reference()
    {
        NodeTools.Require();
        var checkpoint = TinyLlama.Create(TinyLlama.Config, seed: 20261122);
        Compare(checkpoint, type => Write(checkpoint, type));
    }

    /// <summary>
    /// The same check for what <c>quant quantize --to q8_0 / q4_K</c> writes from the checkpoint saved as safetensors with
    /// its config.json: llama.cpp loads it (architecture metadata from config.json, the byte-level fallback vocabulary) and
    /// its logits agree with the F32 GGUF's within the tolerance derived above.
    /// </summary>
    [NodeFact]
    public void LlamaCpp_QuantizeCommandGguf_Q8_0Q4_K_LogitsMatchTheF32Gguf()
    {
        NodeTools.Require();
        var checkpoint = TinyLlama.Create(TinyLlama.Config, seed: 20261122);
        string folder = Path.Combine(_dir, "checkpoint");
        Directory.CreateDirectory(folder);
        SafetensorsWriter.WriteFile(Path.Combine(folder, "model.safetensors"),
            checkpoint.Select(t => new KeyValuePair<string, HostTensor>(t.Key, HostTensor.FromArray(t.Value.Values, Array.ConvertAll(t.Value.Shape, d => (int)d)))));
        var c = TinyLlama.Config;
        File.WriteAllText(Path.Combine(folder, "config.json"), $$"""
            {"model_type": "llama", "hidden_size": {{c.EmbeddingLength}}, "intermediate_size": {{c.FeedForwardLength}}, "num_hidden_layers": {{c.BlockCount}},
             "num_attention_heads": {{c.HeadCount}}, "num_key_value_heads": {{c.HeadCountKv}}, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
             "max_position_embeddings": {{c.ContextLength}}, "vocab_size": {{c.VocabSize}}}
            """);
        Compare(checkpoint, type =>
        {
            if (type == "f32") return Write(checkpoint, type);
            string path = Path.Combine(_dir, $"quantize-{type}.gguf");
            var options = new CheckpointQuantizerOptions { Format = type, Threads = 2 };
            using var source = CheckpointSource.Open(folder);
            var report = CheckpointQuantizer.Run(QuantizePlan.Create(source, path, options), options);
            output.WriteLine(Line($"quantize --to {type}: {report.OutputBytes} bytes, {report.Plan.Units.Count} layers, types {string.Join(", ", report.Plan.Units.GroupBy(u => u.TypeName).Select(g => $"{g.Key} x{g.Count()}"))}"));
            return path;
        });
    }

    /// <summary>
    /// llama.cpp loads what quantize writes for every architecture it knows, with the metadata taken from config.json and the
    /// vocabulary from tokenizer.json (byte-level BPE, merges, control tokens), and evaluates finite logits over the whole
    /// vocabulary: Llama, Mistral, Mixtral (llama with experts), Qwen2, Qwen3, Qwen3-MoE and GPT-OSS (MXFP4 experts kept).
    /// </summary>
    [NodeFact]
    public void LlamaCpp_LoadsAndEvaluatesQuantizeOutput_OfEveryArchitecture()
    {
        NodeTools.Require();
        var sizes = new Conversion.TestCheckpoints.Sizes(Hidden: 128, Ffn: 128, Heads: 2, KvHeads: 1, Vocab: 300, Experts: 4);
        int[] tokens = [298, 72, 101, 108, 108, 111, 32, 256, 257, 17];
        foreach (var modelType in new[] { "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gpt_oss" })
        {
            string folder = Path.Combine(_dir, modelType);
            Conversion.TestCheckpoints.Write(folder, modelType, sizes, seed: 99);
            Conversion.TestCheckpoints.WriteTokenizer(folder, sizes.Vocab);
            string path = Path.Combine(_dir, modelType + ".gguf");
            var options = new CheckpointQuantizerOptions { Format = "q8_0", Threads = 2 };
            using (var source = CheckpointSource.Open(folder)) CheckpointQuantizer.Run(QuantizePlan.Create(source, path, options), options);
            string json = path + ".logits.json";
            var (code, stdout, stderr) = NodeTools.Run("llama-logits.mjs", TimeSpan.FromMinutes(3), path, json, string.Join(',', tokens));
            Assert.True(code == 0, $"llama.cpp (node-llama-cpp) failed on the {modelType} GGUF with exit code {code}:\n{stderr}\n{stdout}");
            using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
            var logits = doc.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
            Assert.Equal(tokens.Length, logits.Length);
            Assert.All(logits, row => Assert.Equal(sizes.Vocab, row.Length));
            Assert.All(logits, row => Assert.All(row, v => Assert.True(double.IsFinite(v))));
            double spread = logits.Max(r => r.Max() - r.Min());
            Assert.True(spread > 0.1, $"{modelType}: the logits do not vary ({spread})");
            using var file = GgufFile.Open(path);
            output.WriteLine(Line($"{modelType}: llama.cpp loaded '{file.Metadata.GetString("general.architecture")}' ({file.Tensors.Count} tensors, {new FileInfo(path).Length} bytes) and evaluated {tokens.Length} tokens; logits spread {spread:F3}"));
        }
    }

    // F32 GGUF against the float64 reference, then each quantized GGUF that write(type) makes against the references of its
    // own dequantized weights and against the F32 GGUF's logits.
    private void Compare(Dictionary<string, (long[] Shape, float[] Values)> checkpoint, Func<string, string> write)
    {
        var config = TinyLlama.Config;
        var weights = checkpoint.ToDictionary(t => t.Key, t => t.Value.Values);

        // float64 reference, and the same in float32 arithmetic: their gap is the scale of float32 noise.
        var ref64 = new LlamaReference(config, weights).Forward(s_tokens);
        var ref32 = new LlamaReference(config, weights) { Round = static x => (float)x }.Forward(s_tokens);
        double noise = MaxAbs(ref32, ref64);
        double scale = ref64.SelectMany(r => r).Max(Math.Abs);

        var llamaF32 = RunLlama(write("f32"));
        double f32Diff = MaxAbs(llamaF32, ref64);
        // llama.cpp sums in other orders than the sequential float32 reference, with an error of the same
        // size or smaller (pairwise and SIMD-lane sums); 4 x the sequential float32 error bounds it with room.
        double tolF32 = 4 * noise;
        Report("f32 ", llamaF32, ref64, tolF32, scale);
        Assert.True(f32Diff <= tolF32, $"llama.cpp F32 logits differ from the float64 reference by {f32Diff:G4} > {tolF32:G4}.");
        Assert.Equal(Argmax(ref64), Argmax(llamaF32));

        foreach (var (type, activation) in new[] { ("q8_0", "q8_0"), ("q4_K", "q8_K") })
        {
            string path = write(type);
            var dequantized = Dequantized(path, config);
            // ggml multiplies a quantized weight by activations quantized to the weight's vec_dot_type (q8_0 for
            // q8_0, q8_K for q4_K): the reference does the same with Quant's bit-exact ports of those quantizers.
            var act = FormatKernels.For(activation);
            double[] Quantize(string _, double[] x)
            {
                var f = Array.ConvertAll(x, v => (float)v);
                var m = act.Quantize(f, 1, f.Length);
                act.Dequantize(m, f);
                return Array.ConvertAll(f, v => (double)v);
            }
            var refQ = new LlamaReference(config, dequantized) { Activations = Quantize }.Forward(s_tokens);
            var refQWeightsOnly = new LlamaReference(config, dequantized).Forward(s_tokens);
            var llamaQ = RunLlama(path);

            double quantEffect = MaxAbs(refQ, ref64);
            double activationEffect = MaxAbs(refQ, refQWeightsOnly);
            double qDiff = MaxAbs(llamaQ, refQ);
            // Float32 noise as above, plus ggml's activation rounding, which can land one code off ours where
            // x / d sits within float32 noise of a half-step (its SIMD quantizer also rounds ties to even and
            // scales by 127 / amax rather than 1 / d). A few such flips among the thousands of activation codes
            // move the logits by a small part of what all activation rounding does: allow a tenth of that.
            // It stays far below what quantization itself does, so a wrong layout cannot pass.
            double tolQ = tolF32 + 0.1 * activationEffect;
            Report(type, llamaQ, refQ, tolQ, scale);
            output.WriteLine(Line($"{type}: quantization moves the float64 logits by {quantEffect:G4} (weights alone {MaxAbs(refQWeightsOnly, ref64):G4}, activations {activationEffect:G4})"));
            Assert.True(qDiff <= tolQ, $"llama.cpp {type} logits differ from the float64 reference of the {type} weights by {qDiff:G4} > {tolQ:G4}.");
            // The check the issue asks for: quantized against F32 within what quantization itself does, derived
            // element by element by the triangle inequality over the two references.
            double worst = 0;
            for (int p = 0; p < llamaQ.Length; p++)
            {
                for (int v = 0; v < llamaQ[p].Length; v++)
                {
                    double allowed = Math.Abs(refQ[p][v] - ref64[p][v]) + tolQ + tolF32;
                    double diff = Math.Abs(llamaQ[p][v] - llamaF32[p][v]);
                    Assert.True(diff <= allowed, $"{type} vs f32 at position {p}, token {v}: {diff:G4} > {allowed:G4}.");
                    worst = Math.Max(worst, diff / allowed);
                }
            }
            output.WriteLine(Line($"{type} vs f32 llama.cpp logits: max |diff| {MaxAbs(llamaQ, llamaF32):G4} ({MaxAbs(llamaQ, llamaF32) / scale:P3} of max |logit|), worst diff / allowed {worst:F3}"));
        }
    }

    private string Write(Dictionary<string, (long[] Shape, float[] Values)> checkpoint, string type)
    {
        string path = Path.Combine(_dir, $"tiny-{type}.gguf");
        var report = LlamaGguf.Write(path, TinyLlama.Config, TinyLlama.AsCheckpoint(checkpoint), new LlamaGgufOptions { Type = type, Name = "tiny random llama" });
        output.WriteLine(Line($"{type}: wrote {new FileInfo(path).Length} bytes, {report.Count} tensors, types {string.Join(", ", report.GroupBy(r => r.Type.Name).Select(g => $"{g.Key} x{g.Count()}"))}"));
        return path;
    }

    // The GGUF's weights dequantized, back in Hugging Face's row order (q/k rows un-permuted by the definition).
    private static Dictionary<string, float[]> Dequantized(string path, LlamaConfig config)
    {
        using var file = GgufFile.Open(path);
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var names = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["token_embd.weight"] = "model.embed_tokens.weight",
            ["output_norm.weight"] = "model.norm.weight",
            ["output.weight"] = "lm_head.weight",
        };
        string[] suffixes = ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
            "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"];
        for (int l = 0; l < config.BlockCount; l++)
        {
            foreach (var s in suffixes) names[LlamaGguf.MapTensorName($"model.layers.{l}.{s}")!] = $"model.layers.{l}.{s}";
        }
        foreach (var tensor in file.Tensors)
        {
            var values = file.ReadSingle(tensor);
            int heads = tensor.Name.EndsWith("attn_q.weight", StringComparison.Ordinal) ? config.HeadCount
                : tensor.Name.EndsWith("attn_k.weight", StringComparison.Ordinal) ? config.HeadCountKv : 0;
            if (heads > 0)
            {
                // GGUF row 2i + s of a head holds Hugging Face row s * d/2 + i.
                int d = config.HeadDim, columns = (int)tensor.Columns;
                var hf = new float[values.Length];
                for (int h = 0; h < heads; h++)
                {
                    for (int i = 0; i < d / 2; i++)
                    {
                        for (int s = 0; s < 2; s++)
                        {
                            Array.Copy(values, (long)(h * d + 2 * i + s) * columns, hf, (long)(h * d + s * d / 2 + i) * columns, columns);
                        }
                    }
                }
                values = hf;
            }
            result[names[tensor.Name]] = values;
        }
        return result;
    }

    private double[][] RunLlama(string model)
    {
        string json = model + ".logits.json";
        var started = DateTime.UtcNow;
        var (code, stdout, stderr) = NodeTools.Run("llama-logits.mjs", TimeSpan.FromMinutes(3), model, json, string.Join(',', s_tokens));
        Assert.True(code == 0, $"llama.cpp (node-llama-cpp) failed on {Path.GetFileName(model)} with exit code {code}:\n{stderr}\n{stdout}");
        output.WriteLine(Line($"llama.cpp evaluated {Path.GetFileName(model)} in {(DateTime.UtcNow - started).TotalSeconds:F1} s"));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        var logits = doc.RootElement.GetProperty("logits").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        Assert.Equal(s_tokens.Length, logits.Length);
        Assert.All(logits, row => Assert.Equal(TinyLlama.Config.VocabSize, row.Length));
        return logits;
    }

    private void Report(string what, double[][] actual, double[][] expected, double tolerance, double scale)
    {
        double max = MaxAbs(actual, expected);
        double sq = 0, count = 0;
        for (int p = 0; p < actual.Length; p++)
        {
            for (int v = 0; v < actual[p].Length; v++)
            {
                sq += (actual[p][v] - expected[p][v]) * (actual[p][v] - expected[p][v]);
                count++;
            }
        }
        output.WriteLine(Line($"{what}: llama.cpp vs float64 reference: max |diff| {max:G4}, rms {Math.Sqrt(sq / count):G4}, relative to max |logit| {scale:G4}: {max / scale:G3}; tolerance {tolerance:G4}; argmax agrees at {Agree(actual, expected)}/{actual.Length} positions"));
    }

    private static double MaxAbs(double[][] a, double[][] b)
    {
        double max = 0;
        for (int p = 0; p < a.Length; p++)
        {
            for (int v = 0; v < a[p].Length; v++) max = Math.Max(max, Math.Abs(a[p][v] - b[p][v]));
        }
        return max;
    }

    private static int[] Argmax(double[][] logits) => logits.Select(r => Array.IndexOf(r, r.Max())).ToArray();

    private static int Agree(double[][] a, double[][] b) => Argmax(a).Zip(Argmax(b)).Count(x => x.First == x.Second);

    private static string Line(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
