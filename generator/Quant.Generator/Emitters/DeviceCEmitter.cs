using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Quant.Generator.Helpers;
using Quant.Generator.Model;
using static Quant.Generator.Emitters.SourceFile;

namespace Quant.Generator.Emitters;

/// <summary>
/// Emits a format's GPU kernel source from its model: device-C that defines the format's layout macros and
/// two functions over one chunk of a row (<c>QF_CHUNK</c> consecutive elements, what one work-item decodes
/// at a time): <c>qf_dequantize_chunk</c>, exact (the CPU's floats, bit for bit), and <c>qf_dot_chunk</c>, the
/// fused dequantize-and-dot. The loops (GEMV, tiled GEMM, MoE gather, dequantize of whole matrices) are the
/// shared hand-written templates in <c>kernels/Quant.Kernels/Device</c>, which stage a segment of each row's
/// planes in local memory and call these functions; the runtime appends them. The source is written once
/// against the <c>QG_*</c> macros of <see cref="DeviceDialect"/>, whose table selects OpenCL C (now) or CUDA C.
/// </summary>
internal static class DeviceCEmitter
{
    /// <summary>The generated C# file: the OpenCL C source as a constant of the format's class, or null when the format has none.</summary>
    public static string? Emit(FormatModel m)
    {
        if (Unsupported(m) is not null) return null;
        string source = Source(m, DeviceDialect.OpenCl);
        return Write(m, "OpenCL C kernels", w =>
        {
            w.WriteLine($"/// <summary>");
            w.WriteLine($"/// The OpenCL C source of format <c>{m.Name}</c>: the dialect prelude, the layout macros (<c>QF_*</c>) and the");
            w.WriteLine($"/// per-chunk functions <c>qf_dequantize_chunk</c> and <c>qf_dot_chunk</c>, which the shared kernel templates call.");
            w.WriteLine($"/// </summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine("public const string OpenClSource = \"\"\"");
            foreach (var line in source.TrimEnd('\n').Split('\n')) w.WriteLine(line);
            w.WriteLine("\"\"\";");
        });
    }

    /// <summary>
    /// Why the generator cannot write device code for <paramref name="m"/>, or null when it can. The parser reports
    /// the reason as warning QG0023 (on the [SubScales] attribute when <c>OnSubScales</c>); the format keeps its CPU kernels.
    /// </summary>
    public static (string Reason, bool OnSubScales)? Unsupported(FormatModel m)
    {
        if (m.SubScales is { Unpack: not null, DeviceUnpack: null } sub)
        {
            return ($"its sub-scales are unpacked by the C# method '{sub.Unpack}', which GPU kernels cannot call; set [SubScales(DeviceUnpack = ...)] to the device-C counterpart", true);
        }
        if (m.Code.Kind == ElementKind.Minifloat && m.Code.Bits > 8 && MinifloatDecoder(m.Code) is null)
        {
            return ($"its {m.Code.Bits}-bit minifloat (E{m.Code.ExponentBits}M{m.Code.MantissaBits}, bias {m.Code.Bias}) does not map onto float32 exactly in device code", false);
        }
        return null;
    }

    /// <summary>The device-C source of <paramref name="m"/> in <paramref name="dialect"/>: prelude, helpers, then the format.</summary>
    internal static string Source(FormatModel m, DeviceDialect dialect)
    {
        var w = new IndentedTextWriter();
        w.WriteLines(dialect.Macros.TrimEnd('\n'));
        w.WriteLines(DeviceDialect.Helpers.TrimEnd('\n'));
        w.WriteLine();
        new DeviceWriter(m, w).Emit();
        return w.ToString();
    }

    /// <summary>The body of <c>qf_decode</c> for a minifloat of more than 8 bits, or null when it cannot be exact.</summary>
    private static string? MinifloatDecoder(CodeModel c)
    {
        int e = c.ExponentBits, mb = c.MantissaBits, bias = c.Bias;
        int maxExponent = (1 << e) - 1;
        if ((e, mb, bias, c.Specials) == (5, 10, 15, MinifloatSpecialsKind.Ieee)) return "return qg_half(c);";
        string nan = $"QG_AS_FLOAT((c >> {e + mb} & 1u) << 31 | 0x7FC00000u)";
        if ((e, mb, bias, c.Specials) == (8, 7, 127, MinifloatSpecialsKind.Ieee))
        {
            return $"return (c & 0x7F80u) == 0x7F80u && (c & 0x7Fu) != 0u ? {nan} : qg_bf16(c);";
        }
        int largestFinite = c.Specials == MinifloatSpecialsKind.Ieee ? maxExponent - 1 : maxExponent;
        if (mb > 23 || 1 - bias + 127 < 1 || largestFinite - bias + 127 > 254) return null;
        string subnormal;
        if (1 - bias - mb >= -126) subnormal = $"(float)f * {FloatC((float)Math.Pow(2, 1 - bias - mb))}";
        else if (1 - bias == -126) subnormal = $"QG_AS_FLOAT(f << {23 - mb})";
        else return null;
        string special = c.Specials switch
        {
            MinifloatSpecialsKind.Ieee => $"e == {maxExponent}u ? (f == 0u ? QG_AS_FLOAT(0x7F800000u) : QG_AS_FLOAT(0x7FC00000u)) : ",
            MinifloatSpecialsKind.NanOnly => $"e == {maxExponent}u && f == {(1 << mb) - 1}u ? QG_AS_FLOAT(0x7FC00000u) : ",
            _ => "",
        };
        return $"uint e = c >> {mb} & {maxExponent}u, f = c & {(1 << mb) - 1}u;\n"
            + $"float v = {special}e == 0u ? {subnormal} : QG_AS_FLOAT((e + {127 - bias}u) << 23 | f << {23 - mb});\n"
            + $"return QG_AS_FLOAT(QG_AS_UINT(v) | (c >> {e + mb} & 1u) << 31);";
    }

    /// <summary>A C float literal that reads back as the same float (invariant culture, always with a '.' or an exponent).</summary>
    internal static string FloatC(float value)
    {
        if (float.IsNaN(value) || float.IsInfinity(value)) throw new ArgumentOutOfRangeException(nameof(value), "device literals are finite");
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        if (value == 0 && BitConverter.ToInt32(BitConverter.GetBytes(value), 0) < 0) text = "-0";
        if (text.IndexOfAny(['.', 'E', 'e']) < 0) text += ".0";
        return text + "f";
    }

    private static string Hex(uint value) => "0x" + value.ToString("X", CultureInfo.InvariantCulture) + "u";

    private static int Gcd(int a, int b) => b == 0 ? Math.Abs(a) : Gcd(b, a % b);

    /// <summary>The largest power of two up to 16 that divides every value (0 divides nothing and counts as 16).</summary>
    private static int Alignment(params int[] values)
    {
        int align = 16;
        foreach (int v in values)
        {
            while (v % align != 0) align /= 2;
        }
        return align;
    }

    /// <summary>Where a code part's bits lie for every element of a chunk.</summary>
    /// <param name="Base">A run-time byte offset added to the field's address (a C int expression, "" for none).</param>
    /// <param name="BaseAlign">The alignment that offset keeps.</param>
    /// <param name="Shift">A run-time right shift of every loaded word (a C int expression, "" for none).</param>
    /// <param name="BitPos">Per element: the bit of its lowest code bit, from the field's address plus <paramref name="Base"/>.</param>
    /// <param name="Fallback">Per element: the run-time element index to read with <c>qg_read_sliced</c> (strides the fast path does not cover), or null.</param>
    private sealed record Access(string Base, int BaseAlign, string Shift, int[] BitPos, string[]? Fallback);

    /// <summary>Writes the format's macros, tables and chunk functions.</summary>
    private sealed class DeviceWriter(FormatModel m, IndentedTextWriter w)
    {
        private readonly CodeModel _code = m.Code;

        /// <summary>Elements per chunk: 32, or 16 for blocks that are multiples of 16 but not of 32.</summary>
        private readonly int _chunk = m.BlockSize % 32 == 0 ? 32 : m.BlockSize >= 16 ? 16 : 32;

        /// <summary>True when a chunk holds several whole blocks (blocks under 16 elements, which hold codes only).</summary>
        private bool Multi => m.BlockSize < _chunk;

        /// <summary>Chunks per block (1 when a chunk holds several blocks).</summary>
        private int ChunksPerBlock => Multi ? 1 : m.BlockSize / _chunk;

        /// <summary>Blocks per chunk (1 unless <see cref="Multi"/>).</summary>
        private int BlocksPerChunk => Multi ? _chunk / m.BlockSize : 1;

        private int K => _code.IntLog2Factor;

        private bool UsesTable => _code.Kind != ElementKind.Integer && _code.Bits <= 8;

        private bool IntTable => _code.Kind != ElementKind.Integer && K >= 0;

        private bool HasScale => m.Scale is not null || m.TensorScale is not null;

        private SubScaleModel? Sub => m.SubScales;

        private int SubBlock => m.BlockSize / Sub!.Count;

        /// <summary>Scale groups in a chunk: sub-blocks shorter than a chunk split it; otherwise the chunk has one.</summary>
        private int Groups => Sub is not null && SubBlock < _chunk ? _chunk / SubBlock : 1;

        private int GroupSize => _chunk / Groups;

        private string MinName => m.Min?.Mode switch
        {
            MinModeKind.ZeroPoint => "zero",
            MinModeKind.SubtractScaled => "dmin",
            _ => "min",
        };

        /// <summary>Bytes a plane holds per block in staged memory, and whether it is staged at all (tensor planes are not).</summary>
        private bool Staged(int plane) => !m.Planes[plane].PerTensor;

        /// <summary>The alignment of a block's (or a multi-block chunk's) first byte in staged plane <paramref name="plane"/>.</summary>
        private int PlaneAlign(int plane) => Alignment(m.Planes[plane].BytesPerBlock * BlocksPerChunk);

        public void Emit()
        {
            EmitMacros();
            EmitTable();
            EmitDecoders();
            EmitDequantize();
            EmitDot();
        }

        private void EmitMacros()
        {
            w.WriteLine($"/* Format '{m.Name}'. */");
            w.WriteLine($"#define QF_BLOCK {m.BlockSize} /* elements per block */");
            w.WriteLine($"#define QF_CHUNK {_chunk} /* elements a work-item decodes at a time */");
            w.WriteLine($"#define QF_UNIT {(Multi ? _chunk : m.BlockSize)} /* row segments are whole units: lcm(block, chunk) */");
            w.WriteLine($"#define QF_PLANES {m.Planes.Count}");
            for (int p = 0; p < 4; p++)
            {
                var plane = p < m.Planes.Count ? m.Planes[p] : null;
                string extent = plane is null ? "0" : plane.PerTensor ? "2" : plane.PerTile ? "1" : "0";
                string what = plane is null ? "(none)" : $"'{plane.Name}'" + (plane.PerTensor ? ", per tensor" : plane.PerTile ? ", per tile" : "");
                w.WriteLine($"#define QF_P{p}_BYTES {plane?.BytesPerBlock ?? 0} /* plane {p} {what}: bytes per block */");
                w.WriteLine($"#define QF_P{p}_EXTENT {extent} /* 0 block, 1 tile, 2 tensor */");
            }
            w.WriteLine($"#define QF_TILE_ROWS {m.TileRows}");
            w.WriteLine($"#define QF_TENSOR_PLANE {(m.TensorScale is null ? -1 : m.Fields[m.TensorScale.Field].Plane)}");
            w.WriteLine($"#define QF_TABLE_SIZE {(UsesTable ? _code.Table.Count : 0)}");
            w.WriteLine();
        }

        private void EmitTable()
        {
            if (!UsesTable) return;
            // The CPU's table: integer tables hold integers (times 2^K), and the integer 0 has no sign.
            var values = _code.Table.Select(v => IntTable ? (float)(v * Math.Pow(2, K)) + 0f : v).ToList();
            string what = IntTable && K > 0 ? $" times 2^{K}" : "";
            w.WriteLine($"/* The value of each code{what}, as float32 bits (the kernels copy it to local memory once). */");
            w.WriteLine($"QG_CONSTANT uint qf_table[{values.Count}] =");
            w.WriteLine("{");
            var bits = values.Select(v => Hex(BitConverter.ToUInt32(BitConverter.GetBytes(v), 0))).ToList();
            if (values.Count <= 16)
            {
                for (int i = 0; i < values.Count; i++)
                {
                    string value = float.IsNaN(values[i]) ? "NaN" : values[i].ToString("R", CultureInfo.InvariantCulture);
                    w.WriteLine($"    {bits[i]},{new string(' ', 12 - bits[i].Length)}/* {i}: {value} */");
                }
            }
            else
            {
                for (int i = 0; i < bits.Count; i += 8) w.WriteLine("    " + string.Join(", ", bits.Skip(i).Take(8)) + ",");
            }
            w.WriteLine("};");
            w.WriteLine();
        }

        private void EmitDecoders()
        {
            if (_code.Kind == ElementKind.Minifloat && _code.Bits > 8)
            {
                w.WriteLine($"/* E{_code.ExponentBits}M{_code.MantissaBits} (bias {_code.Bias}) to float32, exactly. */");
                using (w.Block("QG_FN float qf_decode(uint c)"))
                {
                    w.WriteLines(MinifloatDecoder(_code)!);
                }
                w.WriteLine();
            }
            if (m.TensorScale is not null)
            {
                string bytes = "(uint)t[0] | (uint)t[1] << 8";
                string read = m.TensorScale.Code switch
                {
                    ScaleCodeKind.F32 => $"QG_AS_FLOAT({bytes} | (uint)t[2] << 16 | (uint)t[3] << 24)",
                    ScaleCodeKind.F16 => $"qg_half({bytes})",
                    _ => $"qg_bf16({bytes})",
                };
                w.WriteLine("/* The tensor's second-level scale (one per expert for stacked experts). */");
                using (w.Block("QG_FN float qf_tensor_scale(QG_GLOBAL const uchar* t)"))
                {
                    w.WriteLine($"return {read};");
                }
                w.WriteLine();
            }
            if (Sub?.DeviceUnpack is { } body)
            {
                w.WriteLine($"/* The declaration's own unpacking of sub-block j's scale (bits 0-7){(Sub.WithMins ? " and min (bits 8-15)" : "")} ([SubScales(DeviceUnpack = ...)]). */");
                using (w.Block("QG_FN uint qf_sub_unpack(QG_STAGED const uchar* field, int j)"))
                {
                    w.WriteLines(Dedent(body));
                }
                w.WriteLine();
            }
        }

        private static string Dedent(string text)
        {
            var lines = text.Replace("\r\n", "\n").Trim('\n').Split('\n');
            int indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
            return string.Join("\n", lines.Select(l => l.Length >= indent ? l.Substring(indent).TrimEnd() : l.Trim()));
        }

        private const string Parameters =
            "QG_STAGED const uchar* s0, QG_STAGED const uchar* s1, QG_STAGED const uchar* s2, QG_STAGED const uchar* s3, QG_STAGED const float* tv, float ts, int c";

        // ---- addressing ----------------------------------------------------------------------

        /// <summary>Declares the chunk's block index and part, and a pointer to its block in each staged plane.</summary>
        private void DeclareBlocks()
        {
            if (Multi) w.WriteLine($"/* Chunk c holds blocks {BlocksPerChunk} * c to {BlocksPerChunk} * c + {BlocksPerChunk - 1}. */");
            else if (ChunksPerBlock > 1) w.WriteLine($"int bi = c / {ChunksPerBlock}, q = c % {ChunksPerBlock}; /* block, and which {_chunk} of its {m.BlockSize} elements */");
            for (int p = 0; p < m.Planes.Count; p++)
            {
                if (!Staged(p) || !m.Fields.Any(f => f.Plane == p && Read(f))) continue;
                int stride = m.Planes[p].BytesPerBlock * BlocksPerChunk;
                string index = ChunksPerBlock > 1 ? "bi" : "c";
                w.WriteLine($"QG_STAGED const uchar* b{p} = s{p} + {index} * {stride};");
            }
        }

        /// <summary>True for fields the chunk functions read (block sums and group sums are for integer dot products elsewhere).</summary>
        private static bool Read(FieldModel f) => f.Role is not (FieldRole.BlockSum or FieldRole.GroupSums or FieldRole.TensorScale);

        private string FieldPointer(FieldModel f, int extra = 0) => f.Offset + extra == 0 ? $"b{f.Plane}" : $"b{f.Plane} + {f.Offset + extra}";

        /// <summary>A scale-like field as float, read from its block at the alignment it has.</summary>
        private string ReadScalar(FieldModel f, ScaleCodeKind code, bool fold)
        {
            int align = Alignment(m.Planes[f.Plane].BytesPerBlock * BlocksPerChunk, f.Offset);
            string ptr = FieldPointer(f);
            string u16 = align >= 2 ? $"qg_u16a({ptr})" : $"qg_u16({ptr})";
            return code switch
            {
                ScaleCodeKind.F32 => $"QG_AS_FLOAT({(align >= 4 ? "qg_u32a" : "qg_u32")}({ptr}))",
                ScaleCodeKind.F16 => $"qg_half({u16})",
                ScaleCodeKind.BF16 => $"qg_bf16({u16})",
                ScaleCodeKind.E8M0 => $"qg_e8m0(qg_u8({ptr}), {(fold ? -K : 0)})",
                ScaleCodeKind.E4M3 => $"qg_e4m3(qg_u8({ptr}))",
                _ => throw new NotSupportedException($"scale code {code}"),
            };
        }

        /// <summary>The block scale, undoing the declaration's Divisor, as the CPU computes it.</summary>
        private string ReadScale()
        {
            string decoded = ReadScalar(m.Fields[m.Scale!.Field], m.Scale.Code, m.FoldsFactorIntoScale);
            return m.Scale.Divisor == 1f ? decoded : $"{decoded} / {FloatC(m.Scale.Divisor)}";
        }

        /// <summary>Where each element's bits of <paramref name="part"/> lie in the chunk.</summary>
        private Access Locate(CodePartModel part)
        {
            int b = part.Bits, ch = _chunk;
            var pos = new int[ch];
            if (Multi)
            {
                // Whole blocks: every position is known; element i is element i % block of block i / block.
                int stride = m.Planes[m.Fields[part.Field].Plane].BytesPerBlock;
                for (int i = 0; i < ch; i++) pos[i] = i / m.BlockSize * stride * 8 + BitInField(part, i % m.BlockSize);
                return new Access("", 16, "", pos, null);
            }
            bool parted = ChunksPerBlock > 1;
            switch (part.Packing)
            {
                case PackingKind.Sequential:
                case PackingKind.SequentialHighFirst:
                {
                    // A chunk starts on a byte (chunk * bits is a multiple of 8): part q starts q * chunk * bits / 8 bytes in.
                    for (int i = 0; i < ch; i++) pos[i] = BitInField(part, i);
                    int bytes = ch * b / 8;
                    return new Access(parted ? $"q * {bytes}" : "", parted ? Alignment(bytes) : 16, "", pos, null);
                }
                default:
                {
                    int stride = part.Stride, perRun = stride * 8 / b;
                    if (perRun % ch == 0 && (stride % ch == 0 || ch % stride == 0))
                    {
                        // Chunk q lies in run q / runs, at position q % runs within it (the run index is 0 when a run covers the block).
                        int runs = perRun / ch;
                        var terms = new List<string>();
                        if (parted && ChunksPerBlock > runs) terms.Add(runs == 1 ? $"q * {stride}" : $"q / {runs} * {stride}");
                        string inRun = !parted || runs == 1 ? "" : $"(q % {runs})";
                        if (stride % ch == 0)
                        {
                            // The chunk lies inside one slice: consecutive bytes, one shift for all.
                            for (int i = 0; i < ch; i++) pos[i] = i * 8;
                            if (inRun.Length > 0 && stride > ch) terms.Add($"{inRun} % {stride / ch} * {ch}");
                            string shift = inRun.Length == 0 ? "" : stride == ch ? $"{inRun} * {b}" : $"{inRun} / {stride / ch} * {b}";
                            return new Access(string.Join(" + ", terms), Alignment(stride, ch), shift, pos, null);
                        }
                        // The chunk spans several slices of one run of bytes.
                        for (int i = 0; i < ch; i++) pos[i] = i % stride * 8 + i / stride * b;
                        return new Access(string.Join(" + ", terms), Alignment(stride), inRun.Length == 0 ? "" : $"{inRun} * {ch / stride * b}", pos, null);
                    }
                    // Any other stride: read each element at run time (correct; slower).
                    var reads = Enumerable.Range(0, ch).Select(i => parted ? $"q * {ch} + {i}" : $"{i}").ToArray();
                    return new Access("", 1, "", pos, reads);
                }
            }
        }

        /// <summary>The bit of element <paramref name="e"/> of a block within its field, for the byte-aligned packings.</summary>
        private static int BitInField(CodePartModel part, int e)
        {
            int b = part.Bits;
            switch (part.Packing)
            {
                case PackingKind.SequentialHighFirst:
                    return e * b / 8 * 8 + (8 - b - e * b % 8);
                case PackingKind.Sliced:
                {
                    int perRun = part.Stride * (8 / b), run = e / perRun, within = e - run * perRun, slice = within / part.Stride;
                    return (run * part.Stride + within - slice * part.Stride) * 8 + slice * b;
                }
                default:
                    return e * b;
            }
        }

        /// <summary>One code part's words, loaded for the chunk, and how to read each element from them.</summary>
        private sealed class PartWords(string name, string pointer, CodePartModel part, Access access, int first, int words)
        {
            public string Name { get; } = name;
            public string Pointer { get; } = pointer;
            public CodePartModel Part { get; } = part;
            public Access Access { get; } = access;
            /// <summary>The first byte loaded, from the field's address plus the access's base.</summary>
            public int First { get; } = first;
            public int Words { get; } = words;
            /// <summary>Words that some element reads through the copy shifted right by 16 (the dot path's magic floats).</summary>
            public HashSet<int> HighHalves { get; } = [];

            public int Mask => (1 << Part.Bits) - 1;

            /// <summary>Element <paramref name="i"/>'s bits as an unsigned int expression.</summary>
            public string Extract(int i)
            {
                if (Access.Fallback is not null) return $"qg_read_sliced({Pointer}, {Access.Fallback[i]}, {Part.Bits}, {Part.Stride})";
                int p = Access.BitPos[i] - First * 8, k = p / 32, s = p % 32, b = Part.Bits;
                string word = $"{Name}{k}";
                if (s + b <= 32) return s == 0 ? $"({word} & {Hex((uint)Mask)})" : s + b == 32 ? $"({word} >> {s})" : $"({word} >> {s} & {Hex((uint)Mask)})";
                return $"(({word} >> {s} | {Name}{k + 1} << {32 - s}) & {Hex((uint)Mask)})";
            }
        }

        /// <summary>Declares the words of every code part of the chunk (xor-ing sign bits of two's complement codes when <paramref name="flipSigns"/>).</summary>
        private List<PartWords> LoadCodes(bool flipSigns)
        {
            var list = new List<PartWords>();
            for (int j = 0; j < _code.Parts.Count; j++)
            {
                var part = _code.Parts[j];
                var field = m.Fields[part.Field];
                var access = Locate(part);
                string name = _code.Parts.Count == 1 ? "w" : $"w{j}_";
                string pointer = $"f{(_code.Parts.Count == 1 ? "" : j.ToString(CultureInfo.InvariantCulture))}";
                if (access.Fallback is not null)
                {
                    w.WriteLine($"QG_STAGED const uchar* {pointer} = {FieldPointer(field)}; /* {field.Name}: read element by element, the stride does not fit the chunk */");
                    list.Add(new PartWords(name, pointer, part, access, 0, 0));
                    continue;
                }
                int first = access.BitPos.Min() / 8;
                int end = access.BitPos.Max(pos => (pos + part.Bits - 1) / 8) + 1;
                int words = (end - first + 3) / 4;
                int align = Alignment(m.Planes[field.Plane].BytesPerBlock * BlocksPerChunk, field.Offset + first, access.BaseAlign);
                string address = FieldPointer(field, first) + (access.Base.Length > 0 ? $" + {access.Base}" : "");
                w.WriteLine($"QG_STAGED const uchar* {pointer} = {address}; /* {field.Name}: {end - first} bytes, {align}-byte aligned */");
                if (access.Shift.Length > 0) w.WriteLine($"int {pointer}shift = {access.Shift};");
                uint[] flips = new uint[words + 1];
                bool signed = flipSigns && _code.Signed && _code.Parts.Count == 1;
                if (signed)
                {
                    foreach (int pos in access.BitPos)
                    {
                        int bit = pos - first * 8 + part.Bits - 1;
                        flips[bit / 32] |= 1u << (bit % 32);
                    }
                }
                var loads = new List<string>();
                for (int k = 0; k < words;)
                {
                    if (align >= 16 && k % 4 == 0 && k + 4 <= words)
                    {
                        w.WriteLine($"uint4 {pointer}v{k / 4} = *(QG_STAGED const uint4*)({pointer}{(k == 0 ? "" : $" + {4 * k}")});");
                        loads.AddRange(new[] { "x", "y", "z", "w" }.Select(c => $"{pointer}v{k / 4}.{c}"));
                        k += 4;
                    }
                    else if (align >= 8 && k % 2 == 0 && k + 2 <= words)
                    {
                        w.WriteLine($"uint2 {pointer}v{k / 2} = *(QG_STAGED const uint2*)({pointer}{(k == 0 ? "" : $" + {4 * k}")});");
                        loads.AddRange(new[] { "x", "y" }.Select(c => $"{pointer}v{k / 2}.{c}"));
                        k += 2;
                    }
                    else
                    {
                        string at = k == 0 ? pointer : $"{pointer} + {4 * k}";
                        loads.Add(align >= 4 ? $"qg_u32a({at})" : align >= 2 ? $"(qg_u16a({at}) | qg_u16a({pointer} + {4 * k + 2}) << 16)" : $"qg_u32({at})");
                        k++;
                    }
                }
                var declarations = new List<string>();
                for (int k = 0; k < words; k++)
                {
                    string value = loads[k];
                    if (access.Shift.Length > 0) value = $"{value} >> {pointer}shift";
                    if (flips[k] != 0) value = $"({value}) ^ {Hex(flips[k])}";
                    declarations.Add($"{name}{k} = {value}");
                }
                WriteDeclarations("uint", declarations);
                list.Add(new PartWords(name, pointer, part, access, first, words));
            }
            return list;
        }

        /// <summary>Writes declarations of one type, several to a line when they are short.</summary>
        private void WriteDeclarations(string type, List<string> declarations)
        {
            var line = new StringBuilder();
            foreach (var d in declarations)
            {
                if (line.Length > 0 && line.Length + d.Length > 110)
                {
                    w.WriteLine($"{type} {line};");
                    line.Clear();
                }
                line.Append(line.Length == 0 ? d : ", " + d);
            }
            if (line.Length > 0) w.WriteLine($"{type} {line};");
        }

        /// <summary>Element <paramref name="i"/>'s whole code, all parts assembled.</summary>
        private static string Code(List<PartWords> parts, int i)
        {
            if (parts.Count == 1) return parts[0].Extract(i);
            return "(" + string.Join(" | ", parts.Select(p => p.Part.Shift == 0 ? p.Extract(i) : $"{p.Extract(i)} << {p.Part.Shift}")) + ")";
        }

        /// <summary>The exact float value of a code (a uint expression), before any scale, as the CPU's scalar path computes it.</summary>
        private string Value(string code)
        {
            if (_code.Kind == ElementKind.Minifloat && !UsesTable) return $"qf_decode({code})";
            if (UsesTable)
            {
                return IntTable && K > 0 && !m.FoldsFactorIntoScale ? $"tv[{code}] * {FloatC((float)Math.Pow(2, -K))}" : $"tv[{code}]";
            }
            if (_code.Signed)
            {
                int sign = 1 << (_code.Bits - 1);
                return $"(float)((int)({code} ^ {sign}u) - {sign})";
            }
            return _code.Offset == 0 ? $"(float){code}" : $"(float)((int){code} - {_code.Offset})";
        }

        /// <summary>Element value times scale (plus min), in the order the CPU's reference rounds.</summary>
        private string Reconstruct(string value, string scale, string groupMin) => !HasScale ? value : m.Min?.Mode switch
        {
            MinModeKind.Add => $"{value} * {scale} + min",
            MinModeKind.ZeroPoint => $"({value} - zero) * {scale}",
            MinModeKind.SubtractScaled => $"{value} * {scale} - {groupMin}",
            _ => $"{value} * {scale}",
        };

        /// <summary>Declares the block's scale <c>d</c>, its min, and each group's sub-scale (and sub-min) codes.</summary>
        private void DeclareScalars()
        {
            if (m.Scale is not null) w.WriteLine($"float d = {ReadScale()}{(m.TensorScale is null ? "" : " * ts")};");
            else if (m.TensorScale is not null) w.WriteLine("float d = ts;");
            if (m.Min is not null) w.WriteLine($"float {MinName} = {ReadScalar(m.Fields[m.Min.Field], m.Min.Code, fold: false)};");
            if (Sub is null) return;
            var field = m.Fields[Sub.Field];
            for (int g = 0; g < Groups; g++)
            {
                string j = SubBlock >= _chunk
                    ? (ChunksPerBlock == 1 ? "0" : SubBlock == _chunk ? "q" : $"q / {SubBlock / _chunk}")
                    : (ChunksPerBlock == 1 ? $"{g}" : $"q * {Groups} + {g}");
                if (Sub.DeviceUnpack is not null)
                {
                    w.WriteLine($"uint sm{g} = qf_sub_unpack({FieldPointer(field)}, {j}), sc{g} = sm{g} & 255u{(Sub.WithMins ? $", mc{g} = sm{g} >> 8" : "")};");
                    continue;
                }
                w.WriteLine($"uint sc{g} = {SubParts(j)};");
                if (Sub.WithMins) w.WriteLine($"uint mc{g} = {SubParts($"{j} + {Sub.Count}")};");
            }
        }

        /// <summary>A sub-scale code at run-time index <paramref name="index"/>, all parts assembled (BitPacking's readers).</summary>
        private string SubParts(string index) => string.Join(" | ", Sub!.Parts.Select(part =>
        {
            var f = m.Fields[part.Field];
            string read = part.Packing switch
            {
                PackingKind.Sliced => $"qg_read_sliced({FieldPointer(f)}, {index}, {part.Bits}, {part.Stride})",
                PackingKind.SequentialHighFirst => $"qg_read_hf({FieldPointer(f)}, {index}, {part.Bits})",
                _ => $"qg_read_seq({FieldPointer(f)}, {index}, {part.Bits})",
            };
            return part.Shift == 0 ? read : $"{read} << {part.Shift}";
        }));

        /// <summary>The float value of group <paramref name="g"/>'s sub-scale code, as the CPU computes it.</summary>
        private string SubScaleValue(int g)
        {
            var sub = Sub!;
            if (sub.Signed)
            {
                int sign = 1 << (sub.Bits - 1);
                return $"(float)((int)(sc{g} ^ {sign}u) - {sign})";
            }
            return sub.Offset == 0 ? $"(float)sc{g}" : $"(float)((int)sc{g} - {sub.Offset})";
        }

        /// <summary>Declares each group's scale <c>d{g}</c> (and sub-min <c>m{g}</c>) as the CPU's GroupScale and GroupMin.</summary>
        private void DeclareGroupScales()
        {
            if (Sub is null || !HasScale) return;
            for (int g = 0; g < Groups; g++)
            {
                w.WriteLine($"float d{g} = d * {SubScaleValue(g)};");
                if (Sub.WithMins) w.WriteLine($"float m{g} = dmin * (float)mc{g};");
            }
        }

        private string GroupScale(int g) => Sub is null ? "d" : $"d{g}";

        // ---- the two chunk functions -------------------------------------------------------------

        private void EmitDequantize()
        {
            w.WriteLine($"/* Chunk c of a staged segment: QF_CHUNK floats, the CPU's values bit for bit. */");
            using (w.Block($"QG_FN void qf_dequantize_chunk({Parameters}, float* y)"))
            {
                DeclareBlocks();
                DeclareScalars();
                DeclareGroupScales();
                var parts = LoadCodes(flipSigns: false);
                for (int i = 0; i < _chunk; i++)
                {
                    int g = i / GroupSize;
                    w.WriteLine($"y[{i}] = {Reconstruct(Value(Code(parts, i)), GroupScale(g), $"m{g}")};");
                }
            }
            w.WriteLine();
        }

        private void EmitDot()
        {
            bool magic = _code.Kind == ElementKind.Integer;
            w.WriteLine("/* The dot product of chunk c with x (QF_CHUNK floats), dequantizing on the fly. */");
            using (w.Block($"QG_FN float qf_dot_chunk({Parameters}, const float* x)"))
            {
                DeclareBlocks();
                DeclareScalars();
                var parts = LoadCodes(flipSigns: magic);
                // Integer codes become floats through the mantissa (qg_magic), at their place in the word: each
                // accumulator sums codes times 2^p for one p, and is scaled back by 2^-p once.
                var terms = new List<(int Group, int Power, string Term)>();
                for (int i = 0; i < _chunk; i++)
                {
                    int g = i / GroupSize;
                    if (!magic)
                    {
                        string value = UsesTable ? $"tv[{Code(parts, i)}]" : Value(Code(parts, i));
                        terms.Add((g, 0, value));
                        continue;
                    }
                    int offset = _code.Signed ? 1 << (_code.Bits - 1) : _code.Offset;
                    if (parts.Count == 1 && parts[0].Access.Fallback is null)
                    {
                        var words = parts[0];
                        int p = words.Access.BitPos[i] - words.First * 8, k = p / 32, s = p % 32, b = _code.Bits;
                        if (s + b <= 32)
                        {
                            bool high = s + b > 23;
                            if (high) words.HighHalves.Add(k);
                            int at = high ? s - 16 : s;
                            uint mask = (uint)words.Mask << at;
                            float bias = (float)(8388608.0 + offset * Math.Pow(2, at));
                            terms.Add((g, at, $"qg_magic({(high ? "h" : "w")}{k} & {Hex(mask)}) - {FloatC(bias)}"));
                            continue;
                        }
                    }
                    string code = Code(parts, i);
                    if (_code.Signed && parts.Count > 1) code = $"({code} ^ {1 << (_code.Bits - 1)}u)";
                    terms.Add((g, 0, $"qg_magic({code}) - {FloatC(8388608f + offset)}"));
                }
                if (magic && parts.Count == 1 && parts[0].HighHalves.Count > 0)
                {
                    WriteDeclarations("uint", parts[0].HighHalves.OrderBy(k => k).Select(k => $"h{k} = w{k} >> 16").ToList());
                }
                if (m.Min is not null && HasScale)
                {
                    EmitRebuildingSums(terms);
                    return;
                }
                var accumulators = terms.Select(t => (t.Group, t.Power)).Distinct().OrderBy(t => t.Group).ThenBy(t => t.Power).ToList();
                WriteDeclarations("float", accumulators.Select(a => $"a{a.Group}_{a.Power} = 0.0f").ToList());
                for (int i = 0; i < _chunk; i++)
                {
                    var (g, p, term) = terms[i];
                    w.WriteLine($"a{g}_{p} = QG_MAD({term}, x[{i}], a{g}_{p});");
                }
                DeclareGroupScales();
                var sums = new List<string>();
                for (int g = 0; g < Groups; g++)
                {
                    string sum = string.Join(" + ", accumulators.Where(a => a.Group == g).Select(a => a.Power == 0 ? $"a{g}_0" : $"a{g}_{a.Power} * {FloatC((float)Math.Pow(2, -a.Power))}"));
                    if (UsesTable && IntTable && K > 0 && !m.FoldsFactorIntoScale) sum = $"({sum}) * {FloatC((float)Math.Pow(2, -K))}";
                    sums.Add(!HasScale ? $"({sum})" : $"({sum}) * {GroupScale(g)}");
                }
                w.WriteLine($"return {string.Join(" + ", sums)};");
            }
            w.WriteLine();
        }

        /// <summary>
        /// The dot of a format with a min, bias or zero point: each weight is rebuilt (one rounding, with a fused multiply-add)
        /// before it meets x, as the CPU does, since d * sum(v x) + m * sum(x) cancels where the min and the scaled codes
        /// nearly meet. The scales are taken times 2^-p for codes read at bit p.
        /// </summary>
        private void EmitRebuildingSums(List<(int Group, int Power, string Term)> terms)
        {
            DeclareGroupScales();
            int k = UsesTable && IntTable && K > 0 && !m.FoldsFactorIntoScale ? K : 0;
            var scales = terms.Select(t => (t.Group, t.Power)).Distinct().OrderBy(t => t.Group).ThenBy(t => t.Power).ToList();
            var declarations = new List<string>();
            foreach (var (g, p) in scales)
            {
                if (p + k > 0) declarations.Add($"d{g}_{p} = {GroupScale(g)} * {FloatC((float)Math.Pow(2, -(p + k)))}");
                if (m.Min!.Mode == MinModeKind.ZeroPoint && p > 0) declarations.Add($"z{p} = zero * {FloatC((float)Math.Pow(2, p))}");
            }
            if (m.Min!.Mode == MinModeKind.SubtractScaled) declarations.AddRange(Enumerable.Range(0, Groups).Select(g => $"n{g} = -m{g}"));
            if (declarations.Count > 0) WriteDeclarations("float", declarations);
            WriteDeclarations("float", Enumerable.Range(0, Groups).Select(g => $"a{g} = 0.0f").ToList());
            for (int i = 0; i < _chunk; i++)
            {
                var (g, p, term) = terms[i];
                string scale = p + k > 0 ? $"d{g}_{p}" : GroupScale(g);
                string weight = m.Min.Mode switch
                {
                    MinModeKind.Add => $"QG_MAD({term}, {scale}, min)",
                    MinModeKind.SubtractScaled => $"QG_MAD({term}, {scale}, n{g})",
                    _ => $"(({term}) - {(p > 0 ? $"z{p}" : "zero")}) * {scale}",
                };
                w.WriteLine($"a{g} = QG_MAD({weight}, x[{i}], a{g});");
            }
            w.WriteLine($"return {string.Join(" + ", Enumerable.Range(0, Groups).Select(g => $"a{g}"))};");
        }
    }
}
