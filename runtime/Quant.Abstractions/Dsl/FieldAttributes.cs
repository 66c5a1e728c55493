using System;

namespace Quant;

/// <summary>The block scale (ggml's <c>d</c>): one per block, multiplied into every element of it.</summary>
/// <param name="code">How the scale is stored.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class ScaleAttribute(ScaleCode code) : Attribute
{
    /// <summary>How the scale is stored.</summary>
    public ScaleCode Code { get; } = code;

    /// <summary>The field's name in the block record (ggml: <c>d</c>).</summary>
    public string Name { get; set; } = "d";

    /// <summary>
    /// The name of a separate tensor plane that holds the scales (checkpoint layouts: <c>scales</c>);
    /// null to keep the scale inside the block record.
    /// </summary>
    public string? Plane { get; set; }

    /// <summary>
    /// The stored code holds the scale times this (mistral.rs' F8Q8 keeps <c>d * 448</c> in E4M3 to use the
    /// code's range): the scale is the decoded value divided by it. Default 1.
    /// </summary>
    public float Divisor { get; set; } = 1f;
}

/// <summary>
/// A per-block minimum, bias or zero point, combined with each element as <see cref="Mode"/> says.
/// </summary>
/// <param name="code">How the value is stored.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class MinAttribute(ScaleCode code) : Attribute
{
    /// <summary>How the value is stored.</summary>
    public ScaleCode Code { get; } = code;

    /// <summary>The field's name in the block record (ggml: <c>m</c>, or <c>dmin</c> for K-quants).</summary>
    public string Name { get; set; } = "m";

    /// <summary>How the value enters each element.</summary>
    public MinMode Mode { get; set; } = MinMode.Add;

    /// <summary>A separate tensor plane for the values, or null to keep them in the block record.</summary>
    public string? Plane { get; set; }
}

/// <summary>The element codes: <see cref="Bits"/> low bits of each element's code, packed as <see cref="Packing"/> says.</summary>
/// <param name="bits">Bits per element stored in this field: 1 to 8, or 16 for 16-bit minifloats (f16, bf16).</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class CodesAttribute(int bits) : Attribute
{
    /// <summary>Bits per element stored in this field.</summary>
    public int Bits { get; } = bits;

    /// <summary>The field's name in the block record (ggml: <c>qs</c>).</summary>
    public string Name { get; set; } = "qs";

    /// <summary>How codes are arranged in the field's bytes.</summary>
    public Packing Packing { get; set; } = Packing.Sequential;

    /// <summary>
    /// For <see cref="Packing.Sliced"/>: the bytes in one run; byte <c>j</c> of a run holds elements
    /// <c>j</c>, <c>j + Stride</c>, <c>j + 2 Stride</c> ... in its successive bit slices (ggml q4_0: 16,
    /// q4_K: 32, q6_K's <c>ql</c>: 64). 0 means one run per block.
    /// </summary>
    public int Stride { get; set; }

    /// <summary>A separate tensor plane for the codes, or null to keep them in the block record.</summary>
    public string? Plane { get; set; }
}

/// <summary>
/// Further high bits of each element's code, stored in a field of their own (ggml q5_0's <c>qh</c>).
/// They sit above the bits of <see cref="CodesAttribute"/> and of any earlier high-bit field.
/// </summary>
/// <param name="bits">Bits per element stored in this field.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class HighBitsAttribute(int bits) : Attribute
{
    /// <summary>Bits per element stored in this field.</summary>
    public int Bits { get; } = bits;

    /// <summary>The field's name in the block record.</summary>
    public string Name { get; set; } = "qh";

    /// <summary>How the bits are arranged in the field's bytes.</summary>
    public Packing Packing { get; set; } = Packing.Sequential;

    /// <summary>For <see cref="Packing.Sliced"/>: the bytes in one run (see <see cref="CodesAttribute.Stride"/>).</summary>
    public int Stride { get; set; }

    /// <summary>A separate tensor plane for these bits, or null to keep them in the block record.</summary>
    public string? Plane { get; set; }
}

/// <summary>
/// Integer sub-scales of the sub-blocks of a super-block (ggml K-quants). The scale of sub-block
/// <c>j</c> is <c>d * (code_j - Offset)</c>; with <see cref="WithMins"/> the field also holds one
/// integer minimum per sub-block, multiplied by the block's <see cref="MinAttribute"/> value.
/// </summary>
/// <param name="bits">Bits per sub-scale code.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class SubScalesAttribute(int bits) : Attribute
{
    /// <summary>Bits per sub-scale code.</summary>
    public int Bits { get; } = bits;

    /// <summary>The field's name in the block record (ggml: <c>scales</c>).</summary>
    public string Name { get; set; } = "scales";

    /// <summary>How the codes are arranged; with <see cref="WithMins"/>, the mins follow the scales in code order.</summary>
    public Packing Packing { get; set; } = Packing.Sequential;

    /// <summary>For <see cref="Packing.Sliced"/>: the bytes in one run.</summary>
    public int Stride { get; set; }

    /// <summary>Subtracted from each code; 32 makes a 6-bit code signed around zero (q3_K).</summary>
    public int Offset { get; set; }

    /// <summary>True when codes are two's complement of <see cref="Bits"/> bits (q6_K's int8 scales).</summary>
    public bool Signed { get; set; }

    /// <summary>True when the field also holds one min code per sub-block after the scale codes.</summary>
    public bool WithMins { get; set; }

    /// <summary>
    /// Escape hatch for a packing the vocabulary cannot say (q4_K's 12-byte packing): the name of a
    /// static method of the declaring class, <c>void M(ReadOnlySpan&lt;byte&gt; field, Span&lt;byte&gt; scales, Span&lt;byte&gt; mins)</c>.
    /// </summary>
    public string? Unpack { get; set; }

    /// <summary>The inverse of <see cref="Unpack"/>: <c>void M(ReadOnlySpan&lt;byte&gt; scales, ReadOnlySpan&lt;byte&gt; mins, Span&lt;byte&gt; field)</c>.</summary>
    public string? Pack { get; set; }

    /// <summary>The field's size in bytes when <see cref="Unpack"/> is given; computed from the packing otherwise.</summary>
    public int Bytes { get; set; }

    /// <summary>
    /// The device-C counterpart of <see cref="Unpack"/>, for the GPU kernels (which cannot call C#): the body of
    /// <c>uint f(const uchar* field, int j)</c>, returning sub-block <c>j</c>'s scale code in bits 0-7 and, with
    /// <see cref="WithMins"/>, its min code in bits 8-15. It may use C99 statements, <c>uint</c> and <c>uchar</c>;
    /// <c>field</c> points at the field's first byte. A format with <see cref="Unpack"/> but without this gets no GPU
    /// kernels (warning QG0023). Pass a <c>const string</c> so that the generator can read it.
    /// </summary>
    public string? DeviceUnpack { get; set; }
}

/// <summary>
/// Further high bits of each sub-scale code, in a field of their own (q3_K keeps the top two bits of its
/// 6-bit scales after the low nibbles; iq4_xs keeps them in a 16-bit word before them). They sit above
/// the bits of <see cref="SubScalesAttribute"/>.
/// </summary>
/// <param name="bits">Bits per sub-scale stored in this field.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class SubScaleHighBitsAttribute(int bits) : Attribute
{
    /// <summary>Bits per sub-scale stored in this field.</summary>
    public int Bits { get; } = bits;

    /// <summary>The field's name in the block record.</summary>
    public string Name { get; set; } = "scales_h";

    /// <summary>How the bits are arranged in the field's bytes.</summary>
    public Packing Packing { get; set; } = Packing.Sequential;

    /// <summary>For <see cref="Packing.Sliced"/>: the bytes in one run.</summary>
    public int Stride { get; set; }

    /// <summary>A separate tensor plane for these bits, or null to keep them in the block record.</summary>
    public string? Plane { get; set; }
}

/// <summary>
/// A second-level scale for the whole tensor, in a plane of its own (NVFP4's <c>weight_scale_2</c>): every
/// block scale is multiplied by it. Quantization picks it from the tensor's largest magnitude so that the
/// block scales use their code's whole range.
/// </summary>
/// <param name="code">How the tensor scale is stored.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class TensorScaleAttribute(ScaleCode code) : Attribute
{
    /// <summary>How the tensor scale is stored.</summary>
    public ScaleCode Code { get; } = code;

    /// <summary>The plane (and checkpoint tensor) that holds it.</summary>
    public string Plane { get; set; } = "tensor_scale";
}

/// <summary>
/// A per-block field that holds the block scale times the sum of the block's integer values, computed with
/// the scale before it is rounded (ggml q8_1's <c>s</c>). Dequantization ignores it; integer dot products use it.
/// </summary>
/// <param name="code">How the value is stored.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class BlockSumAttribute(ScaleCode code) : Attribute
{
    /// <summary>How the value is stored.</summary>
    public ScaleCode Code { get; } = code;

    /// <summary>The field's name in the block record.</summary>
    public string Name { get; set; } = "s";
}

/// <summary>
/// A per-block field of int16 sums of the integer values of each run of <see cref="Elements"/> elements
/// (ggml q8_K's <c>bsums</c>). Dequantization ignores it; integer dot products use it.
/// </summary>
/// <param name="elements">Elements per sum.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class GroupSumsAttribute(int elements) : Attribute
{
    /// <summary>Elements per sum.</summary>
    public int Elements { get; } = elements;

    /// <summary>The field's name in the block record.</summary>
    public string Name { get; set; } = "bsums";
}
