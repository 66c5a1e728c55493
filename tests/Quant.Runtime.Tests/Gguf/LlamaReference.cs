using System;
using System.Collections.Generic;
using Quant.Runtime.Gguf;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>
/// A Llama forward pass written from the model's definition, in Hugging Face's layout (rotate-half RoPE on
/// the unpermuted q_proj / k_proj rows), so that agreeing with llama.cpp on the permuted GGUF proves the
/// permutation and the metadata. Arithmetic is float64; <see cref="Round"/> can round every intermediate to
/// float32 instead, to measure how far float32 arithmetic alone moves the logits. <see cref="Activations"/>
/// can replace the input of each matrix product, to mirror ggml, which quantizes activations to q8_0 / q8_K
/// before multiplying by a quantized weight.
/// </summary>
internal sealed class LlamaReference(LlamaConfig config, IReadOnlyDictionary<string, float[]> weights)
{
    /// <summary>Applied after every operation: identity for float64, <c>x => (float)x</c> for float32 arithmetic.</summary>
    public Func<double, double> Round { get; init; } = static x => x;

    /// <summary>Given a weight's name and a matrix product's input, returns the input the product uses (null: as it is).</summary>
    public Func<string, double[], double[]>? Activations { get; init; }

    /// <summary>The logits after each position: <c>[tokens.Length][VocabSize]</c>.</summary>
    public double[][] Forward(int[] tokens)
    {
        var c = config;
        int h = c.EmbeddingLength, hd = c.HeadDim, kvDim = c.HeadCountKv * hd, group = c.HeadCount / c.HeadCountKv;
        var keys = new List<double[]>[c.BlockCount];
        var values = new List<double[]>[c.BlockCount];
        for (int l = 0; l < c.BlockCount; l++)
        {
            keys[l] = [];
            values[l] = [];
        }
        var logits = new double[tokens.Length][];
        for (int p = 0; p < tokens.Length; p++)
        {
            var x = new double[h];
            var embed = weights["model.embed_tokens.weight"];
            for (int j = 0; j < h; j++) x[j] = embed[(long)tokens[p] * h + j];
            for (int l = 0; l < c.BlockCount; l++)
            {
                string pre = $"model.layers.{l}.";
                var n = RmsNorm(x, weights[pre + "input_layernorm.weight"]);
                var q = MatVec(pre + "self_attn.q_proj.weight", n, h);
                var k = MatVec(pre + "self_attn.k_proj.weight", n, kvDim);
                var v = MatVec(pre + "self_attn.v_proj.weight", n, kvDim);
                RotateHalf(q, c.HeadCount, hd, p);
                RotateHalf(k, c.HeadCountKv, hd, p);
                keys[l].Add(k);
                values[l].Add(v);
                var attention = new double[h];
                double scale = 1.0 / Math.Sqrt(hd);
                for (int head = 0; head < c.HeadCount; head++)
                {
                    int kvHead = head / group;
                    var scores = new double[p + 1];
                    double max = double.NegativeInfinity;
                    for (int s = 0; s <= p; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot = Round(dot + Round(q[head * hd + i] * keys[l][s][kvHead * hd + i]));
                        scores[s] = Round(dot * scale);
                        max = Math.Max(max, scores[s]);
                    }
                    double sum = 0;
                    for (int s = 0; s <= p; s++)
                    {
                        scores[s] = Round(Math.Exp(scores[s] - max));
                        sum = Round(sum + scores[s]);
                    }
                    for (int s = 0; s <= p; s++)
                    {
                        double weight = Round(scores[s] / sum);
                        for (int i = 0; i < hd; i++)
                        {
                            int at = head * hd + i;
                            attention[at] = Round(attention[at] + Round(weight * values[l][s][kvHead * hd + i]));
                        }
                    }
                }
                Add(x, MatVec(pre + "self_attn.o_proj.weight", attention, h));
                n = RmsNorm(x, weights[pre + "post_attention_layernorm.weight"]);
                var gate = MatVec(pre + "mlp.gate_proj.weight", n, c.FeedForwardLength);
                var up = MatVec(pre + "mlp.up_proj.weight", n, c.FeedForwardLength);
                for (int i = 0; i < gate.Length; i++) gate[i] = Round(Round(gate[i] / Round(1 + Math.Exp(-gate[i]))) * up[i]);
                Add(x, MatVec(pre + "mlp.down_proj.weight", gate, h));
            }
            var final = RmsNorm(x, weights["model.norm.weight"]);
            logits[p] = MatVec(weights.ContainsKey("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight", final, c.VocabSize);
        }
        return logits;
    }

    private double[] MatVec(string name, double[] x, int rows)
    {
        var w = weights[name];
        int columns = x.Length;
        if (w.Length != (long)rows * columns) throw new InvalidOperationException($"{name}: {w.Length} values for [{rows}, {columns}].");
        var input = Activations?.Invoke(name, x) ?? x;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double acc = 0;
            for (int j = 0; j < columns; j++) acc = Round(acc + Round(w[(long)r * columns + j] * input[j]));
            y[r] = acc;
        }
        return y;
    }

    private double[] RmsNorm(double[] x, float[] gain)
    {
        double sum = 0;
        foreach (double v in x) sum = Round(sum + Round(v * v));
        double inverse = Round(1.0 / Math.Sqrt(Round(sum / x.Length + config.RmsNormEpsilon)));
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = Round(Round(x[i] * inverse) * gain[i]);
        return y;
    }

    // Hugging Face's RoPE: element i of a head turns with element i + d/2 by p * base^(-2i/d).
    private void RotateHalf(double[] v, int heads, int hd, int position)
    {
        int half = hd / 2;
        for (int head = 0; head < heads; head++)
        {
            for (int i = 0; i < half; i++)
            {
                double theta = position * Math.Pow(config.RopeFreqBase, -2.0 * i / hd);
                double cos = Round(Math.Cos(theta)), sin = Round(Math.Sin(theta));
                int a = head * hd + i, b = a + half;
                double x0 = v[a], x1 = v[b];
                v[a] = Round(Round(x0 * cos) - Round(x1 * sin));
                v[b] = Round(Round(x1 * cos) + Round(x0 * sin));
            }
        }
    }

    private void Add(double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) x[i] = Round(x[i] + y[i]);
    }
}
