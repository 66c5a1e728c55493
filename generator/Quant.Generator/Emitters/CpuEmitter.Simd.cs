using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Generator.Model;
using static Quant.Generator.Emitters.SourceFile;

namespace Quant.Generator.Emitters;

partial class CpuEmitter
{
    partial class CpuWriter
    {
        // The SIMD paths work on chunks of 16 elements: the codes of a chunk are the 16 bytes of a
        // Vector128<byte> (whatever the packing), mapped to 16 signed bytes (or unsigned bytes), then
        // widened to floats by Simd128 / Simd256 / Simd512. The three widths differ only in that last step.

        private IEnumerable<int> Chunks => Enumerable.Range(0, m.BlockSize / 16);

        /// <summary>Emits the loads a chunk needs that this block has not made yet, and returns the chunk's code expression.</summary>
        private string ChunkCodes(int chunk, HashSet<string> loaded)
        {
            var pieces = new List<string>();
            foreach (var part in _code.Parts)
            {
                var f = m.Fields[part.Field];
                int first = chunk * 16;
                string piece;
                switch (part.Packing)
                {
                    case PackingKind.Sliced:
                    {
                        int perRun = part.Stride * (8 / part.Bits);
                        int run = first / perRun, within = first % perRun;
                        int slice = within / part.Stride, offset = run * part.Stride + within % part.Stride;
                        string name = $"{f.Name}{offset}";
                        if (loaded.Add(name)) w.WriteLine($"Vector128<byte> {name} = SimdCodes.Load(ref p{f.Plane}, {f.Offset + offset});");
                        piece = $"SimdCodes.Slice({name}, {slice * part.Bits}, {part.Bits})";
                        break;
                    }
                    case PackingKind.SequentialHighFirst when part.Bits == 4:
                        piece = $"SimdCodes.NibblesHighFirst(ref p{f.Plane}, {f.Offset + chunk * 8})";
                        break;
                    case PackingKind.Sequential when part.Bits == 4:
                        piece = $"SimdCodes.NibblesLowFirst(ref p{f.Plane}, {f.Offset + chunk * 8})";
                        break;
                    case PackingKind.Sequential when part.Bits == 1:
                        piece = $"SimdCodes.Bits(ref p{f.Plane}, {f.Offset + chunk * 2})";
                        break;
                    case PackingKind.Sequential when part.Bits == 8:
                    case PackingKind.SequentialHighFirst when part.Bits == 8:
                        piece = $"SimdCodes.Load(ref p{f.Plane}, {f.Offset + chunk * 16})";
                        break;
                    case PackingKind.Sequential:
                        piece = $"SimdCodes.Sequential({FieldRef(f)}, {first * part.Bits}, {part.Bits})";
                        break;
                    default:
                        throw new NotSupportedException($"SIMD unpacking of {part.Packing} {part.Bits}-bit codes");
                }
                pieces.Add(part.Shift == 0 ? piece : $"Vector128.ShiftLeft({piece}, {part.Shift})");
            }
            return string.Join(" | ", pieces);
        }

        /// <summary>The chunk's values as signed bytes (or unsigned bytes for wide unsigned codes), from its codes.</summary>
        private string ChunkValues(string codes)
        {
            if (UsesTable) return $"SimdCodes.Lookup(s_codeBytes, {codes})";
            if (_code.Signed) return $"SimdCodes.SignExtend({codes}, {_code.Bits})";
            if (ByteValues) return codes;
            return _code.Offset == 0 ? $"({codes}).AsSByte()" : $"(({codes}) - Vector128.Create((byte){_code.Offset})).AsSByte()";
        }

        private string ValueType => ByteValues ? "Vector128<byte>" : "Vector128<sbyte>";

        /// <summary>Emits one chunk's code and value computation; returns the name of its values.</summary>
        private string EmitChunk(int chunk, HashSet<string> loaded)
        {
            string codes = ChunkCodes(chunk, loaded);
            w.WriteLine($"{ValueType} v{chunk} = {ChunkValues(codes)};");
            return $"v{chunk}";
        }

        /// <summary>The factor that turns integer table values into true values, when it is not folded into the scale.</summary>
        private string? Factor => IntTable && K > 0 && !m.FoldsFactorIntoScale ? Float((float)Math.Pow(2, -K)) : null;

        private void EmitSimdDequantize(int width)
        {
            string simd = $"Simd{width}", vector = $"Vector{width}";
            w.WriteLine($"/// <summary>Dequantizes with {width}-bit vectors; the same floats as the scalar path, bit for bit (no fused multiply-add).</summary>");
            w.WriteLine(GeneratedCode);
            using (w.Block($"private static void DequantizeBlocks{width}(int blocks, ref float y, {PlaneParameters})"))
            {
                if (Factor is not null) w.WriteLine($"{vector}<float> factor = {vector}.Create({Factor});");
                if (ByteValues && _code.Offset != 0) w.WriteLine($"{vector}<float> offset = {vector}.Create({Float(_code.Offset)});");
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    w.WriteLine($"{vector}<float> d = {vector}.Create({ReadScaleOrOne});");
                    if (m.Min is not null) w.WriteLine($"{vector}<float> min = {vector}.Create({ReadMin});");
                    var loaded = new HashSet<string>();
                    foreach (int chunk in Chunks)
                    {
                        string v = EmitChunk(chunk, loaded);
                        string target = chunk == 0 ? "ref y" : $"ref Unsafe.Add(ref y, {chunk * 16})";
                        w.WriteLine(StoreChunk(simd, v, target));
                    }
                    w.WriteLine("y = ref Unsafe.Add(ref y, BlockSize);");
                    AdvancePlanes();
                }
            }
            w.WriteLine();
        }

        private string StoreChunk(string simd, string v, string target)
        {
            if (ByteValues && _code.Offset != 0) return $"{simd}.Store16ZeroPoint({v}, offset, d, {target});";
            if (m.Min?.Mode == MinModeKind.Add) return $"{simd}.Store16({v}, d, min, {target});";
            if (m.Min?.Mode == MinModeKind.ZeroPoint) throw new NotSupportedException("zero points in the SIMD paths");
            if (Factor is not null) return $"{simd}.Store16Factor({v}, factor, d, {target});";
            return $"{simd}.Store16({v}, d, {target});";
        }

        private void EmitSimdDot(int width)
        {
            string simd = $"Simd{width}", vector = $"Vector{width}";
            bool needsXSum = m.Min is not null || (ByteValues && _code.Offset != 0);
            w.WriteLine($"/// <summary>The fused row dot with {width}-bit vectors.</summary>");
            w.WriteLine(GeneratedCode);
            using (w.Block($"private static float DotRow{width}(int blocks, ref float x, {PlaneParameters})"))
            {
                w.WriteLine($"{vector}<float> acc = {vector}<float>.Zero;");
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    string scale = ReadScaleOrOne;
                    if (Factor is not null) scale = $"{scale} * {Factor}";
                    w.WriteLine($"float d = {scale};");
                    var loaded = new HashSet<string>();
                    foreach (int chunk in Chunks)
                    {
                        string v = EmitChunk(chunk, loaded);
                        string xs = chunk == 0 ? "ref x" : $"ref Unsafe.Add(ref x, {chunk * 16})";
                        w.WriteLine(chunk == 0
                            ? $"{vector}<float> s = {simd}.Dot16({v}, {xs});"
                            : $"s = {simd}.DotAdd16({v}, {xs}, s);");
                        if (needsXSum)
                        {
                            w.WriteLine(chunk == 0 ? $"{vector}<float> xSum = {simd}.Sum16({xs});" : $"xSum += {simd}.Sum16({xs});");
                        }
                    }
                    w.WriteLine($"acc = {vector}.MultiplyAddEstimate(s, {vector}.Create(d), acc);");
                    if (ByteValues && _code.Offset != 0) w.WriteLine($"acc = {vector}.MultiplyAddEstimate(xSum, {vector}.Create(-{_code.Offset}f * d), acc);");
                    if (m.Min?.Mode == MinModeKind.Add) w.WriteLine($"acc = {vector}.MultiplyAddEstimate(xSum, {vector}.Create({ReadMin}), acc);");
                    w.WriteLine("x = ref Unsafe.Add(ref x, BlockSize);");
                    AdvancePlanes();
                }
                w.WriteLine($"return {vector}.Sum(acc);");
            }
            w.WriteLine();
        }
    }
}
