using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace Quant.Runtime.Gguf;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> (the <c>tokenizers</c> library's file) turned into GGUF's <c>tokenizer.ggml.*</c>:
/// a BPE model becomes a <c>gpt2</c> vocabulary (byte-level BPE: tokens, merges, token types) or, when it falls back to
/// bytes as SentencePiece does (<c>byte_fallback</c>), a <c>llama</c> one (tokens, scores, token types with the
/// <c>&lt;0xNN&gt;</c> byte tokens typed 6). Added tokens are typed control (3) when special, user-defined (4) otherwise; ids
/// the file leaves unused up to the model's vocabulary size become unused <c>[PADn]</c> tokens (5), as llama.cpp's
/// converter pads them.
/// </summary>
public static class HuggingFaceTokenizer
{
    /// <summary>Reads <paramref name="path"/> as a GGUF tokenizer of <paramref name="vocabSize"/> tokens.</summary>
    /// <param name="path">The <c>tokenizer.json</c> file.</param>
    /// <param name="vocabSize">The model's vocabulary (<c>config.json</c>'s <c>vocab_size</c>): rows of its embedding.</param>
    /// <param name="modelType">The model's <c>model_type</c>, which picks <c>tokenizer.ggml.pre</c> for a byte-level vocabulary (<c>llama-bpe</c>, <c>qwen2</c>, <c>gpt-4o</c>; <c>default</c> otherwise).</param>
    /// <param name="bos">The BOS token id (<c>config.json</c>'s <c>bos_token_id</c>), or null.</param>
    /// <param name="eos">The EOS token id, or null.</param>
    /// <exception cref="QuantFormatException">The file is not JSON, its model is not BPE, a token id is negative, repeated or past <paramref name="vocabSize"/>.</exception>
    public static GgufTokenizer Read(string path, int vocabSize, string? modelType, uint? bos, uint? eos)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 });
            return Parse(document.RootElement, path, vocabSize, modelType, bos, eos);
        }
        catch (JsonException e)
        {
            throw new QuantFormatException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    private static GgufTokenizer Parse(JsonElement root, string path, int vocabSize, string? modelType, uint? bos, uint? eos)
    {
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new QuantFormatException($"{path}: there is no 'model' object.");
        string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
        if (type != "BPE") throw new QuantFormatException($"{path}: the tokenizer model is '{type}'; only BPE tokenizers are converted to GGUF (others get the byte-level fallback).");
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object) throw new QuantFormatException($"{path}: model.vocab is missing.");
        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;

        var tokens = new string?[vocabSize];
        var types = new int[vocabSize];
        void Set(string token, JsonElement idElement, int tokenType, bool mayRepeat)
        {
            if (!idElement.TryGetInt32(out int id) || id < 0 || id >= vocabSize)
                throw new QuantFormatException($"{path}: token '{token}' has id {idElement}, outside the model's vocabulary of {vocabSize}.");
            if (tokens[id] is not null && !(mayRepeat && tokens[id] == token))
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{path}: id {id} is given to both '{tokens[id]}' and '{token}'."));
            tokens[id] = token;
            types[id] = tokenType;
        }
        foreach (var entry in vocab.EnumerateObject())
        {
            bool isByte = byteFallback && entry.Name.Length == 6 && entry.Name.StartsWith("<0x", StringComparison.Ordinal) && entry.Name.EndsWith('>');
            Set(entry.Name, entry.Value, isByte ? 6 : 1, mayRepeat: false);
        }
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in added.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String || !a.TryGetProperty("id", out var id))
                    throw new QuantFormatException($"{path}: an added token lacks 'id' or 'content'.");
                bool special = a.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True;
                Set(content.GetString()!, id, special ? 3 : 4, mayRepeat: true);
            }
        }
        var filled = new string[vocabSize];
        for (int i = 0; i < vocabSize; i++)
        {
            if (tokens[i] is { } token) filled[i] = token;
            else
            {
                filled[i] = string.Create(CultureInfo.InvariantCulture, $"[PAD{i}]");
                types[i] = 5;
            }
        }
        if (byteFallback)
        {
            // llama.cpp's SentencePiece tokenizer merges by score: earlier (lower) ids first, as BPE ranks them.
            var scores = new float[vocabSize];
            for (int i = 0; i < vocabSize; i++) scores[i] = types[i] == 1 ? -i : 0f;
            return new GgufTokenizer("llama", filled, types, null, scores, bos, eos);
        }
        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var m) && m.ValueKind == JsonValueKind.Array)
        {
            foreach (var merge in m.EnumerateArray())
            {
                // Older files write "a b"; newer ones ["a", "b"].
                if (merge.ValueKind == JsonValueKind.String) merges.Add(merge.GetString()!);
                else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2 && merge.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
                    merges.Add(merge[0].GetString() + " " + merge[1].GetString());
                else throw new QuantFormatException($"{path}: a merge is {merge}; merges are \"a b\" or [\"a\", \"b\"].");
            }
        }
        string pre = modelType switch
        {
            "llama" => "llama-bpe",
            "qwen2" or "qwen3" or "qwen3_moe" => "qwen2",
            "gpt_oss" => "gpt-4o",
            _ => "default",
        };
        return new GgufTokenizer("gpt2", filled, types, merges.ToArray(), null, bos, eos, pre);
    }
}
