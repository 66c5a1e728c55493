using System;

namespace Quant;

/// <summary>
/// Marks a <c>static partial class</c> as the declaration of a block-quantization format. The Quant source
/// generator reads this attribute and the other DSL attributes on the same type and emits the format's
/// layout constants, quantize / dequantize / dot kernels (scalar and SIMD), UQFF serialization and a
/// registration record into the other half of the partial class.
/// </summary>
/// <remarks>
/// Fields of a block record are laid out in the order their attributes are written
/// (<see cref="ScaleAttribute"/>, <see cref="MinAttribute"/>, <see cref="CodesAttribute"/>,
/// <see cref="HighBitsAttribute"/>, <see cref="SubScalesAttribute"/>).
/// A field that names a <c>Plane</c> is stored in a separate tensor plane of that name instead;
/// planes follow each other in the order of their first field.
/// </remarks>
/// <param name="name">The format's name, lower case, as users type it (<c>q4_0</c>, <c>mxfp4</c>).</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class QuantFormatAttribute(string name) : Attribute
{
    /// <summary>The format's name, unique among registered formats.</summary>
    public string Name { get; } = name;

    /// <summary>The UQFF layer type this format is written as, or <see cref="UqffLayer.None"/>.</summary>
    public UqffLayer Uqff { get; set; } = UqffLayer.None;

    /// <summary>The <c>enum ggml_type</c> value when ggml (and GGUF) has this block format; -1 otherwise.</summary>
    public int GgufType { get; set; } = -1;

    /// <summary>
    /// The name of the format activations are quantized to for integer dot products (ggml's
    /// <c>vec_dot_type</c>, for example <c>q8_0</c> or <c>q8_K</c>); null when the format only multiplies
    /// against float activations.
    /// </summary>
    public string? VecDotType { get; set; }

    /// <summary>The name of the plane that holds the fields declared without a <c>Plane</c>. Default <c>blocks</c>.</summary>
    public string RecordPlane { get; set; } = "blocks";

    /// <summary>One line that says what the format is, shown by <c>quant formats</c>.</summary>
    public string? Description { get; set; }
}

/// <summary>
/// The shape of one block: how many consecutive elements of a row share one scale.
/// </summary>
/// <param name="elements">Elements per block along a row (the K dimension).</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class BlockAttribute(int elements) : Attribute
{
    /// <summary>Elements per block along a row.</summary>
    public int Elements { get; } = elements;

    /// <summary>
    /// Elements per sub-block when the block is a super-block whose sub-blocks carry their own integer
    /// sub-scales (ggml's K-quants: 256 = 8 x 32 or 16 x 16). 0 when there are no sub-blocks.
    /// </summary>
    public int SubBlock { get; set; }

    /// <summary>
    /// Rows that share one block scale, for 2-D tiles (blockwise FP8: 128 x 128). 1 for row-local blocks.
    /// </summary>
    public int Rows { get; set; } = 1;
}
