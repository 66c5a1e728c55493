using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Quant.Runtime.Isq;

/// <summary>One rule of an <see cref="IsqRules"/> list: layers whose name matches go to a format (or stay dense).</summary>
/// <param name="Pattern">A regular expression matched against the layer's name (e.g. <c>model.layers.3.mlp.down_proj</c>); it must match somewhere in the name (anchor it with ^ and $ for whole names).</param>
/// <param name="Format">The format's name, or null to keep the layer dense.</param>
/// <param name="Rule">The format's quantization rule, or null for its default.</param>
public sealed record IsqRule(string Pattern, string? Format, string? Rule = null)
{
    private readonly Regex _regex = new(Pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    /// <summary>Whether the rule applies to <paramref name="layer"/>.</summary>
    public bool Matches(string layer) => _regex.IsMatch(layer);
}

/// <summary>
/// Which layers in-situ quantization (ISQ) turns into which format: an ordered list of regular expressions over
/// layer names, the first that matches deciding (mistral.rs' topology rules), and a default for the layers no
/// rule names. Layers that no rule matches and no default covers stay dense.
/// </summary>
/// <remarks>
/// The text form, one rule per line: <c>PATTERN = FORMAT[:RULE]</c>, with <c>dense</c> as the format that keeps a
/// layer as it is, <c>* = FORMAT</c> for the default, and <c>#</c> comments. The JSON form:
/// <c>{"default": "q4_K", "rules": [{"match": "mlp\\.down_proj", "format": "q6_K", "rule": "mse"}]}</c>.
/// </remarks>
public sealed class IsqRules
{
    /// <summary>The rules, in the order they are tried.</summary>
    public IReadOnlyList<IsqRule> Rules { get; }

    /// <summary>The format of layers no rule matches, or null to keep them dense.</summary>
    public string? DefaultFormat { get; }

    /// <summary>The rule of the default format, or null for its default.</summary>
    public string? DefaultRule { get; }

    /// <summary>Creates the rule list.</summary>
    public IsqRules(IReadOnlyList<IsqRule> rules, string? defaultFormat = null, string? defaultRule = null)
    {
        Rules = rules ?? throw new ArgumentNullException(nameof(rules));
        DefaultFormat = defaultFormat;
        DefaultRule = defaultRule;
    }

    /// <summary>Every quantizable layer to <paramref name="format"/>.</summary>
    public static IsqRules All(string format, string? rule = null) => new([], format, rule);

    /// <summary>The format and rule for <paramref name="layer"/>, or null when it stays dense.</summary>
    public (string Format, string? Rule)? Resolve(string layer)
    {
        foreach (var rule in Rules)
        {
            if (rule.Matches(layer)) return rule.Format is null ? null : (rule.Format, rule.Rule);
        }
        return DefaultFormat is null ? null : (DefaultFormat, DefaultRule);
    }

    /// <summary>Reads rules from a file in the text or the JSON form (by its first character).</summary>
    /// <exception cref="QuantFormatException">The file is malformed; the message names the line or key.</exception>
    public static IsqRules Load(string path)
    {
        string text = File.ReadAllText(path);
        return text.TrimStart().StartsWith('{') ? ParseJson(text, path) : ParseText(text, path);
    }

    /// <summary>Parses the text form.</summary>
    public static IsqRules ParseText(string text, string source = "rules")
    {
        var rules = new List<IsqRule>();
        string? defaultFormat = null, defaultRule = null;
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            int hash = line.IndexOf(" #", StringComparison.Ordinal);
            if (line.TrimStart().StartsWith('#')) continue;
            if (hash >= 0) line = line[..hash];
            line = line.Trim();
            if (line.Length == 0) continue;
            int eq = line.LastIndexOf('=');
            if (eq <= 0) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{source}, line {i + 1}: expected 'PATTERN = FORMAT[:RULE]', got '{line}'."));
            string pattern = line[..eq].Trim(), target = line[(eq + 1)..].Trim();
            var (format, rule) = Target(target, $"{source}, line {i + 1}");
            if (pattern == "*")
            {
                defaultFormat = format;
                defaultRule = rule;
            }
            else rules.Add(Rule(pattern, format, rule, $"{source}, line {i + 1}"));
        }
        return new IsqRules(rules, defaultFormat, defaultRule);
    }

    /// <summary>Parses the JSON form.</summary>
    public static IsqRules ParseJson(string json, string source = "rules")
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new QuantFormatException($"{source}: expected a JSON object with 'rules' and 'default'.");
            string? defaultFormat = null, defaultRule = null;
            if (root.TryGetProperty("default", out var d) && d.ValueKind != JsonValueKind.Null)
            {
                if (d.ValueKind != JsonValueKind.String) throw new QuantFormatException($"{source}: 'default' must be a format name.");
                (defaultFormat, defaultRule) = Target(d.GetString()!, $"{source}: 'default'");
            }
            var rules = new List<IsqRule>();
            if (root.TryGetProperty("rules", out var list))
            {
                if (list.ValueKind != JsonValueKind.Array) throw new QuantFormatException($"{source}: 'rules' must be an array.");
                int i = 0;
                foreach (var item in list.EnumerateArray())
                {
                    string where = $"{source}: rules[{i++}]";
                    if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("match", out var m) || m.ValueKind != JsonValueKind.String)
                        throw new QuantFormatException($"{where} must be an object with a 'match' pattern.");
                    string? format = item.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
                    string? rule = item.TryGetProperty("rule", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
                    if (format is null or "dense") format = null;
                    rules.Add(Rule(m.GetString()!, format, rule, where));
                }
            }
            return new IsqRules(rules, defaultFormat, defaultRule);
        }
        catch (JsonException e)
        {
            throw new QuantFormatException($"{source}: not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Checks that every format and rule the list names is registered.</summary>
    /// <exception cref="QuantFormatException">A format or rule is unknown.</exception>
    public void Validate()
    {
        Kernels.QuantCatalog.EnsureRegistered();
        foreach (var (format, rule) in Rules.Select(r => (r.Format, r.Rule)).Append((DefaultFormat, DefaultRule)))
        {
            if (format is null) continue;
            if (!QuantFormatRegistry.TryGet(format, out var entry)) throw new QuantFormatException($"ISQ rules name format '{format}', which is not registered (see 'quant formats').");
            entry.Info.FindRule(rule);
        }
    }

    private static (string? Format, string? Rule) Target(string target, string where)
    {
        if (target.Length == 0) throw new QuantFormatException($"{where}: the format is empty.");
        if (target == "dense") return (null, null);
        int colon = target.IndexOf(':');
        return colon < 0 ? (target, null) : (target[..colon].Trim(), target[(colon + 1)..].Trim());
    }

    private static IsqRule Rule(string pattern, string? format, string? rule, string where)
    {
        try
        {
            return new IsqRule(pattern, format, rule);
        }
        catch (ArgumentException e)
        {
            throw new QuantFormatException($"{where}: '{pattern}' is not a valid regular expression: {e.Message}", e);
        }
    }
}
