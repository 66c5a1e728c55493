using System;

namespace Quant;

/// <summary>Element codes are integers: <c>value = code - Offset</c>, or two's complement with <see cref="Signed"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class IntegerAttribute : Attribute
{
    /// <summary>Subtracted from each code (ggml q4_0: 8, q5_0: 16).</summary>
    public int Offset { get; set; }

    /// <summary>True when codes are two's complement integers of the code width (ggml q8_0).</summary>
    public bool Signed { get; set; }
}

/// <summary>Element codes index a table of values (NF4, IQ4_NL). The table has 2^bits entries.</summary>
/// <param name="values">The value of each code, in code order.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class CodebookAttribute(params float[] values) : Attribute
{
    /// <summary>The value of each code, in code order.</summary>
    public float[] Values { get; } = values;
}

/// <summary>
/// Element codes are minifloats: a sign bit, <see cref="ExponentBits"/> exponent bits and
/// <see cref="MantissaBits"/> mantissa bits (E2M1, E2M3, E3M2, E4M3, E5M2), as the OCP MX and FP8 specs define them.
/// </summary>
/// <param name="exponentBits">Exponent bits.</param>
/// <param name="mantissaBits">Mantissa bits.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class MinifloatAttribute(int exponentBits, int mantissaBits) : Attribute
{
    /// <summary>Exponent bits.</summary>
    public int ExponentBits { get; } = exponentBits;

    /// <summary>Mantissa bits.</summary>
    public int MantissaBits { get; } = mantissaBits;

    /// <summary>The exponent bias; -1 (the default) means 2^(ExponentBits - 1) - 1.</summary>
    public int Bias { get; set; } = -1;

    /// <summary>Which codes are infinities or NaN.</summary>
    public MinifloatSpecials Specials { get; set; } = MinifloatSpecials.None;
}

/// <summary>
/// A named quantization rule: how a block's scale is chosen and how elements are rounded to codes. A
/// format may declare several (selected by name with <c>--rule</c>); exactly one is the default.
/// </summary>
/// <param name="name">The rule's name (<c>ggml</c>, <c>ocp</c>, <c>mistralrs</c>, <c>mse</c>).</param>
/// <param name="rule">The rule's algorithm.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class QuantRuleAttribute(string name, ScaleRule rule) : Attribute
{
    /// <summary>The rule's name.</summary>
    public string Name { get; } = name;

    /// <summary>The rule's algorithm.</summary>
    public ScaleRule Rule { get; } = rule;

    /// <summary>True for the rule used when none is named.</summary>
    public bool Default { get; set; }

    /// <summary>One line that says what the rule does and where it comes from.</summary>
    public string? Description { get; set; }

    /// <summary>How scaled elements round to codes (rules with a choice: the shared-exponent and rounding rules).</summary>
    public CodeRounding Rounding { get; set; } = CodeRounding.NearestEven;

    /// <summary>Zero-point rules: store the zero point rounded to an integer (GPTQ, AWQ; HQQ's round_zeros).</summary>
    public bool RoundZeroPoint { get; set; }

    /// <summary>
    /// <see cref="ScaleRule.HalfQuadratic"/>: the proximal optimisation steps (mistral.rs' <c>optimization_steps</c>; its
    /// in-situ quantization uses 10, and its optimiser 20 when none is given). 0 keeps the min/max zero point. Default 20.
    /// </summary>
    public int Steps { get; set; } = 20;

    /// <summary>What an element beyond the largest code becomes (minifloat codes).</summary>
    public Numerics.MinifloatOverflow Overflow { get; set; } = Numerics.MinifloatOverflow.Saturate;
}
