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

        private IEnumerable<int> Chunks => Enumerable.Range(0, StepElements / 16);

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
                        string name = $"{f.Name}_{offset}";
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

        /// <summary>The chunk's values from its codes: signed or unsigned bytes, or 16 floats for float tables and minifloats.</summary>
        private string ChunkValues(string codes, int width)
        {
            if (IntTable) return $"SimdCodes.Lookup(s_codeBytes, {codes})";
            if (FloatTable)
            {
                string table = width switch { 512 => "table", 256 => "tableLow, tableHigh", _ => "ref MemoryMarshal.GetArrayDataReference(s_codeValues)" };
                return $"Simd{width}.Lookup16({codes}, {table})";
            }
            if (DecodesMinifloat) return $"Simd{width}.Decode<Element>({codes})";
            if (_code.Signed) return $"SimdCodes.SignExtend({codes}, {_code.Bits})";
            if (ByteValues) return codes;
            string c = codes.Contains(" | ") ? $"({codes})" : codes;
            // Extension methods need a using; the static form needs none.
            return _code.Offset == 0 ? $"Vector128.AsSByte({codes})" : $"Vector128.AsSByte({c} - Vector128.Create((byte){_code.Offset}))";
        }

        /// <summary>Emits one chunk's code and value computation; returns the name of its values.</summary>
        private string EmitChunk(int chunk, HashSet<string> loaded, int width)
        {
            if (_code.Bits == 16)
            {
                var f = m.Fields[_code.Parts[0].Field];
                w.WriteLine($"var v{chunk} = Simd{width}.Decode16<Element>(ref p{f.Plane}, {f.Offset + chunk * 32});");
                return $"v{chunk}";
            }
            string codes = ChunkCodes(chunk, loaded);
            w.WriteLine($"var v{chunk} = {ChunkValues(codes, width)};");
            return $"v{chunk}";
        }

        /// <summary>Loads the float table into vectors once per call, for the float-table lookups.</summary>
        private void DeclareTableVectors(int width)
        {
            if (!FloatTable) return;
            if (width == 512) w.WriteLine("Vector512<float> table = Vector512.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(s_codeValues));");
            if (width == 256)
            {
                w.WriteLine("Vector256<float> tableLow = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(s_codeValues));");
                w.WriteLine("Vector256<float> tableHigh = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(s_codeValues), 8);");
            }
        }

        /// <summary>Opens the loop over SIMD steps (one block, or 16 / BlockSize small blocks).</summary>
        private IDisposable StepLoop() => m.SimdStepBlocks == 1
            ? w.Block("for (int b = 0; b < blocks; b++)")
            : w.Block($"for (; b + {m.SimdStepBlocks} <= blocks; b += {m.SimdStepBlocks})");

        private void AdvanceStep()
        {
            for (int p = 0; p < m.Planes.Count; p++)
            {
                if (m.Planes[p].PerTensor) continue;
                w.WriteLine(m.SimdStepBlocks == 1
                    ? $"p{p} = ref Unsafe.Add(ref p{p}, Plane{p}BytesPerBlock);"
                    : $"p{p} = ref Unsafe.Add(ref p{p}, {m.SimdStepBlocks} * Plane{p}BytesPerBlock);");
            }
        }

        private int StepElements => m.BlockSize * m.SimdStepBlocks;

        /// <summary>The factor that turns integer table values into true values, when it is not folded into the scale.</summary>
        private string? Factor => IntTable && K > 0 && !m.FoldsFactorIntoScale ? Float((float)Math.Pow(2, -K)) : null;

        /// <summary>Codes of integer formats whose unsigned bytes carry an offset the values cannot absorb.</summary>
        private bool ByteOffset => ByteValues && _code.Offset != 0;

        /// <summary>Chunks that share one scale: a sub-block's or a block's; a step of small scale-less blocks is one group.</summary>
        private int ChunksPerGroup => m.BlockSize < 16 ? StepElements / 16 : GroupSize / 16;

        private void EmitSimdDequantize(int width)
        {
            string simd = $"Simd{width}", vector = $"Vector{width}";
            w.WriteLine($"/// <summary>Dequantizes with {width}-bit vectors; the same floats as the scalar path, bit for bit (no fused multiply-add).</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine(OptimizeNow);
            using (w.Block($"private static void DequantizeBlocks{width}(int blocks, ref float y, {PlaneParameters})"))
            {
                DeclareTensorScale();
                DeclareSubScaleBuffers();
                DeclareTableVectors(width);
                if (Factor is not null) w.WriteLine($"{vector}<float> factor = {vector}.Create({Factor});");
                if (ByteOffset) w.WriteLine($"{vector}<float> offset = {vector}.Create({Float(_code.Offset)});");
                if (m.SimdStepBlocks > 1) w.WriteLine("int b = 0;");
                using (StepLoop())
                {
                    DeclareBlockScalars();
                    if (m.Min?.Mode is MinModeKind.Add) w.WriteLine($"{vector}<float> vmin = {vector}.Create(min);");
                    if (m.Min?.Mode is MinModeKind.ZeroPoint) w.WriteLine($"{vector}<float> vzero = {vector}.Create(zero);");
                    var loaded = new HashSet<string>();
                    foreach (int chunk in Chunks)
                    {
                        int group = chunk / ChunksPerGroup;
                        if (chunk % ChunksPerGroup == 0 && HasScale)
                        {
                            string declare = chunk == 0 ? $"{vector}<float> " : "";
                            w.WriteLine($"{declare}vd = {vector}.Create({GroupScale(group.ToString(System.Globalization.CultureInfo.InvariantCulture))});");
                            if (m.Min?.Mode is MinModeKind.SubtractScaled) w.WriteLine($"{declare}vmin = {vector}.Create(-({GroupMin(group.ToString(System.Globalization.CultureInfo.InvariantCulture))}));");
                        }
                        string v = EmitChunk(chunk, loaded, width);
                        string target = chunk == 0 ? "ref y" : $"ref Unsafe.Add(ref y, {chunk * 16})";
                        w.WriteLine(StoreChunk(simd, v, target));
                    }
                    w.WriteLine($"y = ref Unsafe.Add(ref y, {StepElements});");
                    AdvanceStep();
                }
                if (m.SimdStepBlocks > 1) w.WriteLine($"DequantizeBlocksScalar(blocks - b, ref y, {PlaneArguments});");
            }
            w.WriteLine();
        }

        private string StoreChunk(string simd, string v, string target)
        {
            if (!HasScale) return $"{simd}.Store16({v}, {target});";
            if (ByteOffset) return $"{simd}.Store16ZeroPoint({v}, offset, vd, {target});";
            return m.Min?.Mode switch
            {
                MinModeKind.Add or MinModeKind.SubtractScaled => $"{simd}.Store16({v}, vd, vmin, {target});",
                MinModeKind.ZeroPoint => $"{simd}.Store16ZeroPoint({v}, vzero, vd, {target});",
                _ => Factor is not null ? $"{simd}.Store16Factor({v}, factor, vd, {target});" : $"{simd}.Store16({v}, vd, {target});",
            };
        }

        private void EmitSimdDot(int width)
        {
            string simd = $"Simd{width}", vector = $"Vector{width}";
            bool rebuild = m.Min is not null || ByteOffset;
            w.WriteLine($"/// <summary>The fused row dot with {width}-bit vectors.</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine(OptimizeNow);
            using (w.Block($"private static float DotRow{width}(int blocks, ref float x, {PlaneParameters})"))
            {
                DeclareTensorScale();
                DeclareSubScaleBuffers();
                DeclareTableVectors(width);
                if (ByteOffset) w.WriteLine($"{vector}<float> offset = {vector}.Create({Float(_code.Offset)});");
                w.WriteLine($"{vector}<float> acc = {vector}<float>.Zero;");
                if (m.SimdStepBlocks > 1) w.WriteLine("int b = 0;");
                using (StepLoop())
                {
                    DeclareBlockScalars();
                    if (Factor is not null) w.WriteLine($"d *= {Factor};");
                    if (rebuild)
                    {
                        // Weights with a min (or zero point) are rebuilt before the multiply, which costs the same as
                        // summing x on the side and cannot cancel.
                        EmitRebuildingDot(width);
                    }
                    else
                    {
                        var loaded = new HashSet<string>();
                        foreach (int chunk in Chunks)
                        {
                            bool first = chunk % ChunksPerGroup == 0, last = (chunk + 1) % ChunksPerGroup == 0;
                            string declare = chunk == 0 ? $"{vector}<float> " : "";
                            string v = EmitChunk(chunk, loaded, width);
                            string xs = chunk == 0 ? "ref x" : $"ref Unsafe.Add(ref x, {chunk * 16})";
                            w.WriteLine(first ? $"{declare}s = {simd}.Dot16({v}, {xs});" : $"s = {simd}.DotAdd16({v}, {xs}, s);");
                            if (!last) continue;
                            string group = (chunk / ChunksPerGroup).ToString(System.Globalization.CultureInfo.InvariantCulture);
                            string scale = Sub is null ? "d" : GroupScale(group)!;
                            w.WriteLine(!HasScale && Factor is null
                                ? "acc += s;"
                                : $"acc = {vector}.MultiplyAddEstimate(s, {vector}.Create({scale}), acc);");
                        }
                    }
                    w.WriteLine($"x = ref Unsafe.Add(ref x, {StepElements});");
                    AdvanceStep();
                }
                w.WriteLine(m.SimdStepBlocks > 1
                    ? $"return {vector}.Sum(acc) + DotRowScalar(blocks - b, ref x, {PlaneArguments});"
                    : $"return {vector}.Sum(acc);");
            }
            w.WriteLine();
        }

        /// <summary>The dot of one block whose weights are rebuilt as <c>v * d + m</c> (or <c>(v - z) * d</c>) per chunk.</summary>
        private void EmitRebuildingDot(int width)
        {
            string simd = $"Simd{width}", vector = $"Vector{width}";
            if (m.Min?.Mode is MinModeKind.Add) w.WriteLine($"{vector}<float> vmin = {vector}.Create(min);");
            // A zero point is subtracted before the scale, as the scalar dequantizer does (-zero * d would cancel).
            if (m.Min?.Mode is MinModeKind.ZeroPoint) w.WriteLine($"{vector}<float> vzero = {vector}.Create(zero);");
            if (ByteOffset) w.WriteLine($"{vector}<float> vmin = {vector}.Create(-{Float(_code.Offset)} * d);");
            var loaded = new HashSet<string>();
            foreach (int chunk in Chunks)
            {
                if (chunk % ChunksPerGroup == 0)
                {
                    string declare = chunk == 0 ? $"{vector}<float> " : "";
                    string group = (chunk / ChunksPerGroup).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    w.WriteLine($"{declare}vd = {vector}.Create({GroupScale(group) ?? "1f"});");
                    if (m.Min?.Mode is MinModeKind.SubtractScaled) w.WriteLine($"{declare}vmin = {vector}.Create(-({GroupMin(group)}));");
                }
                string v = EmitChunk(chunk, loaded, width);
                string xs = chunk == 0 ? "ref x" : $"ref Unsafe.Add(ref x, {chunk * 16})";
                w.WriteLine(m.Min?.Mode is MinModeKind.ZeroPoint && !ByteOffset
                    ? $"acc = {simd}.DotAdd16ZeroPoint({v}, vzero, vd, {xs}, acc);"
                    : $"acc = {simd}.DotAdd16({v}, vd, vmin, {xs}, acc);");
            }
        }
    }
}
