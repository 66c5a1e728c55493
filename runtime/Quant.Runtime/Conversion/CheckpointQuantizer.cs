using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using Quant.Kernels;
using Quant.Runtime.Gguf;
using Quant.Runtime.Isq;
using Quant.Runtime.Layers;
using Quant.Runtime.Tensors;
using Quant.Runtime.Uqff;
using Quant.Uqff;

namespace Quant.Runtime.Conversion;

/// <summary>Where a conversion stands, reported after every step it writes (on the converting thread).</summary>
/// <param name="Step">The step just written.</param>
/// <param name="StepsDone">Steps written so far.</param>
/// <param name="StepsTotal">Steps in all.</param>
/// <param name="UnitsDone">Linear units (layers, experts) written so far.</param>
/// <param name="UnitsTotal">Linear units in all.</param>
/// <param name="InputBytesDone">Checkpoint bytes consumed so far.</param>
/// <param name="InputBytesTotal">Checkpoint bytes in all.</param>
/// <param name="OutputBytesDone">Output bytes written so far (tensor data).</param>
/// <param name="Elapsed">Time since the conversion started.</param>
public sealed record QuantizeProgress(QuantizeStep Step, int StepsDone, int StepsTotal, int UnitsDone, int UnitsTotal,
    long InputBytesDone, long InputBytesTotal, long OutputBytesDone, TimeSpan Elapsed);

/// <summary>What a conversion did.</summary>
/// <param name="Plan">The plan it carried out.</param>
/// <param name="Elapsed">Wall-clock time, from the first read to the last rename.</param>
/// <param name="Workers">ISQ workers.</param>
/// <param name="PeakPending">The most layers the ISQ pool held submitted and unfinished at once (at most workers + 1).</param>
/// <param name="OutputBytes">The bytes of every file written.</param>
public sealed record QuantizeReport(QuantizePlan Plan, TimeSpan Elapsed, int Workers, int PeakPending, long OutputBytes);

/// <summary>
/// Carries out a <see cref="QuantizePlan"/>: reads the checkpoint lazily, quantizes the linear weights on an
/// <see cref="IsqScheduler"/> (a bounded pool: at most workers + 1 layers submitted and unfinished, and this class keeps
/// no more than that many in flight, finished or not, so memory holds a few layers, never the model) and writes the
/// output in order as each layer finishes: a UQFF model through <see cref="UqffModelWriter"/> or a GGUF file through
/// <see cref="GgufWriter"/>. The output is written under temporary <c>.partial</c> names and renamed only when complete;
/// a cancellation or a failure deletes them and leaves no output file.
/// </summary>
public static class CheckpointQuantizer
{
    /// <summary>Quantizes <paramref name="plan"/>'s checkpoint into its output.</summary>
    /// <param name="plan">The plan (<see cref="QuantizePlan.Create"/>).</param>
    /// <param name="options">Workers and importance (the plan fixed everything else).</param>
    /// <param name="progress">Called on this thread after each step; null for none.</param>
    /// <param name="cancellation">Stops the conversion between layers; the output is then not written.</param>
    /// <param name="scheduled">Called with the ISQ pool once it exists (tests read its counters); null for none.</param>
    /// <exception cref="OperationCanceledException">The conversion was cancelled; no output file was left.</exception>
    /// <exception cref="QuantFormatException">The checkpoint's data is not what its header said.</exception>
    /// <exception cref="IOException">An output could not be written (the disk is full, ...); no output file was left.</exception>
    public static QuantizeReport Run(QuantizePlan plan, CheckpointQuantizerOptions options, Action<QuantizeProgress>? progress = null,
        CancellationToken cancellation = default, Action<IsqScheduler>? scheduled = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(options);
        QuantCatalog.EnsureRegistered();
        var clock = Stopwatch.StartNew();
        int workers = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        using var scheduler = new IsqScheduler(workers);
        scheduled?.Invoke(scheduler);
        var counters = new Counters(plan, progress, clock);
        using (var pipeline = new UnitPipeline(plan, options, scheduler, cancellation))
        {
            if (plan.Output == QuantizeOutput.Uqff) WriteUqff(plan, pipeline, counters, cancellation);
            else WriteGguf(plan, pipeline, counters, cancellation);
        }
        long bytes = plan.OutputFiles.Where(File.Exists).Sum(f => new FileInfo(f).Length);
        return new QuantizeReport(plan, clock.Elapsed, workers, scheduler.PeakPending, bytes);
    }

    private static void WriteUqff(QuantizePlan plan, UnitPipeline pipeline, Counters counters, CancellationToken cancellation)
    {
        using var writer = new UqffModelWriter(plan.OutputPath, plan.Layers!, plan.ResidualTable!, plan.MaxFileBytes, plan.SideFiles);
        foreach (var step in plan.Steps)
        {
            cancellation.ThrowIfCancellationRequested();
            switch (step)
            {
                case ResidualStep r:
                    WriteResidual(plan.Source, r, bytes => writer.WriteResidual(r.OutputName, bytes));
                    break;
                case LinearStep l:
                    writer.WriteLayer(l.Layer!.Index, pipeline.Next(cancellation).Span);
                    break;
            }
            counters.Done(step);
        }
        cancellation.ThrowIfCancellationRequested();
        writer.Commit();
    }

    private static void WriteGguf(QuantizePlan plan, UnitPipeline pipeline, Counters counters, CancellationToken cancellation)
    {
        var table = plan.Steps.Select(s => s switch
        {
            ResidualStep r => new GgufTensorSpec(r.OutputName, r.OutputShape.Length == 0 ? [1] : Array.ConvertAll(r.OutputShape.Reverse().ToArray(), d => (long)d), r.GgufType!),
            LinearStep l => new GgufTensorSpec(l.OutputName, l.GgufDims!, l.GgufType!),
            _ => throw new InvalidOperationException(),
        }).ToArray();
        using var writer = GgufWriter.Create(plan.OutputPath, plan.Metadata!, table);
        foreach (var step in plan.Steps)
        {
            cancellation.ThrowIfCancellationRequested();
            switch (step)
            {
                case ResidualStep r:
                    writer.WriteTensor(r.OutputName, stream => WriteResidual(plan.Source, r, bytes => stream.Write(bytes)));
                    break;
                case LinearStep l:
                    writer.WriteTensor(l.OutputName, stream =>
                    {
                        foreach (var _ in l.Units) stream.Write(pipeline.Next(cancellation).Span);
                    });
                    break;
            }
            counters.Done(step);
        }
        cancellation.ThrowIfCancellationRequested();
        writer.Commit();
    }

    // Residual tensors are copied in chunks of at most 16 MiB of leading-dimension slices, or converted slice by slice.
    private static void WriteResidual(CheckpointSource source, ResidualStep step, Action<ReadOnlySpan<byte>> write)
    {
        const long Chunk = 16L << 20;
        var t = step.Source;
        if (step.IsCopy)
        {
            var buffer = new byte[(int)Math.Min(Chunk, Math.Max(t.ByteLength, 1))];
            for (long at = 0; at < t.ByteLength; at += buffer.Length)
            {
                var part = buffer.AsSpan(0, (int)Math.Min(buffer.Length, t.ByteLength - at));
                source.ReadBytes(t, at, part);
                write(part);
            }
            return;
        }
        int leading = t.Shape.Length == 0 ? 1 : t.Shape[0];
        long slice = Math.Max(1, t.ElementCount / Math.Max(leading, 1));
        int per = (int)Math.Max(1, Math.Min(leading, Chunk / 4 / slice));
        for (int first = 0; first < leading; first += per)
        {
            int count = Math.Min(per, leading - first);
            float[] values = t.Shape.Length == 0 ? source.ReadFloats(t, 0, 1) : source.ReadFloats(t, first, count);
            if (step.Rows != RowSelection.All) values = SelectLast(values, t.Shape.Length == 0 ? 1 : t.Shape[^1], step.Rows);
            var dtype = step.DType ?? (step.GgufType == GgufTensorType.F32 ? DType.F32 : step.GgufType!.Name == "f16" ? DType.F16 : DType.BF16);
            var tensor = HostTensor.FromArray(values, values.Length).ToDType(dtype);
            write(tensor.Bytes);
        }
    }

    private static float[] SelectLast(float[] values, int width, RowSelection rows)
    {
        var result = new float[values.Length / 2];
        int offset = rows == RowSelection.Even ? 0 : 1;
        for (int i = 0; i < result.Length; i++) result[i] = values[2 * i + offset];
        return result;
    }

    /// <summary>Counts what was written and reports it.</summary>
    private sealed class Counters(QuantizePlan plan, Action<QuantizeProgress>? progress, Stopwatch clock)
    {
        private int _steps, _units;
        private long _input, _output;

        public void Done(QuantizeStep step)
        {
            _steps++;
            if (step is LinearStep l) _units += l.Units.Count;
            _input += step.InputBytes;
            _output += step.OutputBytes;
            progress?.Invoke(new QuantizeProgress(step, _steps, plan.Steps.Count, _units, plan.Units.Count, _input, plan.InputBytes, _output, clock.Elapsed));
        }
    }

    /// <summary>
    /// The units in output order, read and submitted ahead of the writer by at most the pool's bound (workers + 1), so
    /// the ISQ workers always have work and memory holds that many layers; <see cref="Next"/> waits for the oldest one.
    /// </summary>
    private sealed class UnitPipeline : IDisposable
    {
        private readonly QuantizePlan _plan;
        private readonly CheckpointQuantizerOptions _options;
        private readonly IsqScheduler _scheduler;
        private readonly IEnumerator<QuantizeUnit> _upcoming;
        private readonly Queue<(QuantizeUnit Unit, PendingLayer? Pending, ReadOnlyMemory<byte>? Ready)> _queue = new();
        private readonly CancellationToken _cancellation;
        private long _released;

        public UnitPipeline(QuantizePlan plan, CheckpointQuantizerOptions options, IsqScheduler scheduler, CancellationToken cancellation)
        {
            _plan = plan;
            _options = options;
            _scheduler = scheduler;
            _cancellation = cancellation;
            _upcoming = plan.Units.GetEnumerator();
        }

        /// <summary>
        /// The bytes of the next unit: a UQFF blob, or the unit's part of a GGUF tensor; valid until the next call (the
        /// caller writes them first).
        /// </summary>
        public ReadOnlyMemory<byte> Next(CancellationToken cancellation)
        {
            ReleaseMemory();
            Fill();
            if (_queue.Count == 0) throw new InvalidOperationException("The writer asked for more units than the plan has.");
            var (unit, pending, ready) = _queue.Dequeue();
            var bytes = ready ?? Finish(unit, Wait(unit, pending!, cancellation));
            if (bytes.Length != unit.OutputBytes)
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"{unit.DisplayName}: {bytes.Length} bytes were made where the plan announced {unit.OutputBytes}."));
            _released += unit.InputBytes + 2 * unit.OutputBytes;
            Fill();
            return bytes;
        }

        // Each unit leaves its read buffer and its output as large-object garbage. A full collection after every 64 MiB of
        // it (a few milliseconds, against the seconds quantizing that much takes) keeps the process near the units in
        // flight instead of letting garbage of many layers pile up before the runtime collects it on its own.
        private void ReleaseMemory()
        {
            if (_released < 64L << 20) return;
            _released = 0;
            GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        }

        public void Dispose() => _upcoming.Dispose();

        private void Fill()
        {
            while (_queue.Count < _scheduler.MaxPending && _upcoming.MoveNext())
            {
                _cancellation.ThrowIfCancellationRequested();
                var unit = _upcoming.Current;
                if (unit.Treatment == UnitTreatment.Quantize)
                {
                    var layer = Prepare(unit);
                    var request = new IsqRequest(unit.Format!, unit.Rule, Importance(unit));
                    _queue.Enqueue((unit, _scheduler.Submit(unit.DisplayName, layer, request, _cancellation), null));
                }
                else
                {
                    _queue.Enqueue((unit, null, Kept(unit)));
                }
            }
        }

        private static IQuantMethod Wait(QuantizeUnit unit, PendingLayer pending, CancellationToken cancellation)
        {
            try
            {
                pending.Completion.Wait(cancellation);
                return pending.Resolve();
            }
            catch (AggregateException e) when (e.InnerException is not null)
            {
                throw Unwrap(unit, e.InnerException);
            }
            catch (InvalidOperationException e) when (e.InnerException is not null)
            {
                throw Unwrap(unit, e);
            }
        }

        private static Exception Unwrap(QuantizeUnit unit, Exception e)
        {
            var inner = e is InvalidOperationException { InnerException: { } i } ? i : e;
            return inner is QuantFormatException q ? new QuantFormatException($"{unit.DisplayName}: {q.Message}", q) : e;
        }

        // The dense layer a worker quantizes: the unit's rows in the stored dtype (reordered for llama's q / k), or for
        // MXFP4 re-quantization the MXFP4 layer, which the worker dequantizes first.
        private IQuantMethod Prepare(QuantizeUnit unit)
        {
            var source = _plan.Source;
            var linear = unit.Source;
            var bias = unit.WithBias ? Bias(unit) : null;
            if (linear.IsMxfp4)
            {
                var (blocks, scales) = Mxfp4Rows(unit);
                return new Mxfp4Layer(blocks, scales, bias);
            }
            var w = linear.Weight!;
            if (w.DType is DType.F32 or DType.F16 or DType.BF16)
            {
                var tensor = linear.Experts > 1 ? source.ReadSlice(w, unit.Expert!.Value) : source.Read(w);
                var bytes = Arrange(Owned(tensor), linear.Rows, unit, tensor.DType.Size() * linear.Columns);
                return new UnquantLinear(HostTensor.FromOwnedBytes(tensor.DType, [unit.OutRows, linear.Columns], bytes), bias);
            }
            float[] values = linear.Experts > 1 ? source.ReadFloats(w, unit.Expert!.Value, 1) : source.ReadFloats(w, 0, linear.Rows);
            var arranged = Arrange(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), linear.Rows, unit, 4 * linear.Columns);
            return new UnquantLinear(HostTensor.FromOwnedBytes(DType.F32, [unit.OutRows, linear.Columns], arranged), bias);
        }

        // Kept units: no quantization, only reading, reordering and re-encoding.
        private byte[] Kept(QuantizeUnit unit)
        {
            var source = _plan.Source;
            var linear = unit.Source;
            var bias = unit.WithBias ? Bias(unit) : null;
            int n = unit.OutRows, k = linear.Columns;
            if (unit.Treatment == UnitTreatment.KeepMxfp4 && unit.AllExperts)
            {
                int experts = linear.Experts;
                var blocks = HostTensor.FromOwnedBytes(DType.U8, [experts, linear.Rows, k / 2], source.ReadBytes(linear.Blocks!));
                var scales = HostTensor.FromOwnedBytes(DType.U8, [experts, linear.Rows, k / 32], source.ReadBytes(linear.Scales!));
                HostTensor? all = unit.WithBias ? HostTensor.FromArray(source.ReadFloats(linear.Bias!, 0, experts), experts, linear.Rows) : null;
                return new Mxfp4Layer(blocks, scales, all).Serialize();
            }
            if (unit.Treatment == UnitTreatment.KeepMxfp4)
            {
                var (blocks, scales) = Mxfp4Rows(unit);
                return _plan.Output == QuantizeOutput.Uqff ? new Mxfp4Layer(blocks, scales, bias).Serialize() : Mxfp4ToGgml(blocks.Bytes, scales.Bytes, n, k);
            }
            var w = linear.Weight!;
            if (w.GgufType is { } g)
            {
                long rowBytes = g.ByteCount([k]);
                var raw = new byte[checked((int)(rowBytes * linear.Rows))];
                source.ReadBytes(w, (unit.Expert ?? 0) * raw.LongLength, raw);
                var bytes = Arrange(raw, linear.Rows, unit, (int)rowBytes);
                return _plan.Output == QuantizeOutput.Gguf ? bytes
                    : new QuantLinear(new QuantMatrix(g.Format!.Info, n, k, [bytes]), bias).Serialize();
            }
            var tensor = linear.Experts > 1 ? source.ReadSlice(w, unit.Expert!.Value) : source.Read(w);
            if (tensor.DType == DType.F64) tensor = HostTensor.FromArray(tensor.ToFloat32Array(), tensor.Dims());
            var arranged = Arrange(Owned(tensor), linear.Rows, unit, tensor.DType.Size() * k);
            return _plan.Output == QuantizeOutput.Gguf ? arranged
                : new UnquantLinear(HostTensor.FromOwnedBytes(tensor.DType, [n, k], arranged), bias).Serialize();
        }

        private ReadOnlyMemory<byte> Finish(QuantizeUnit unit, IQuantMethod result)
        {
            if (_plan.Output == QuantizeOutput.Uqff) return result.Serialize();
            var quantized = result as QuantLinear ?? throw new InvalidOperationException($"{unit.DisplayName}: ISQ returned {result.Name}, not a quantized layer.");
            return quantized.Weight.Plane(0);
        }

        private HostTensor Bias(QuantizeUnit unit)
        {
            var b = unit.Source.Bias!;
            var values = b.Shape.Length == 2 ? _plan.Source.ReadFloats(b, unit.Expert ?? 0, 1) : _plan.Source.ReadFloats(b, 0, b.Shape[0]);
            return HostTensor.FromArray(values, values.Length);
        }

        private (HostTensor Blocks, HostTensor Scales) Mxfp4Rows(QuantizeUnit unit)
        {
            var linear = unit.Source;
            int e = unit.Expert ?? 0, k = linear.Columns;
            var blocks = _plan.Source.ReadSlice(linear.Blocks!, e);
            var scales = _plan.Source.ReadSlice(linear.Scales!, e);
            var b = Arrange(Owned(blocks), linear.Rows, unit, k / 2);
            var s = Arrange(Owned(scales), linear.Rows, unit, k / 32);
            return (HostTensor.FromOwnedBytes(DType.U8, [unit.OutRows, k / 2], b), HostTensor.FromOwnedBytes(DType.U8, [unit.OutRows, k / 32], s));
        }

        private ReadOnlyMemory<float> Importance(QuantizeUnit unit)
        {
            if (_options.Imatrix is not { } imatrix || !imatrix.TryGetValue(unit.ImportanceKey, out var stats)) return default;
            var values = stats.AsSpan<float>();
            int k = unit.Source.Columns;
            if (stats.Dim(-1) != k)
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"The importance of '{unit.ImportanceKey}' has {stats.Dim(-1)} columns; the layer has {k}."));
            if (stats.Rank == 2)
            {
                if (stats.Dim(0) != unit.Source.Experts)
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"The importance of '{unit.ImportanceKey}' is [{stats.Dim(0)}, {k}]; the layer has {unit.Source.Experts} experts."));
                return values.Slice((unit.Expert ?? 0) * k, k).ToArray();
            }
            return values.ToArray();
        }
    }

    // The array a tensor this class read owns (no copy).
    private static byte[] Owned(HostTensor tensor) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(tensor.Memory, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array : tensor.Bytes.ToArray();

    /// <summary>
    /// The rows of one matrix (<paramref name="rows"/> rows of <paramref name="rowBytes"/> bytes) as the unit takes them:
    /// every row, the even or the odd ones, and for llama's q / k reordered from Hugging Face's rotary layout to GGUF's;
    /// <paramref name="matrix"/> itself when there is nothing to do.
    /// </summary>
    internal static byte[] Arrange(byte[] matrix, int rows, QuantizeUnit unit, int rowBytes)
    {
        byte[] selected;
        if (unit.Rows == RowSelection.All) selected = matrix;
        else
        {
            selected = new byte[(long)rows / 2 * rowBytes];
            int offset = unit.Rows == RowSelection.Even ? 0 : 1;
            for (int r = 0; r < rows / 2; r++) matrix.AsSpan((2 * r + offset) * rowBytes, rowBytes).CopyTo(selected.AsSpan(r * rowBytes, rowBytes));
        }
        if (unit.PermuteHeads <= 0) return selected;
        int outRows = selected.Length / rowBytes, heads = unit.PermuteHeads;
        if (outRows % heads != 0 || outRows / heads % 2 != 0)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{unit.DisplayName}: {outRows} rows do not split into {heads} heads of an even size (RoPE rotates pairs)."));
        // GGUF row 2i + s of a head is Hugging Face row s * d/2 + i (LlamaGguf.PermuteRotaryRows, on whole rows of bytes).
        int d = outRows / heads, half = d / 2;
        var permuted = new byte[selected.Length];
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < half; i++)
            {
                for (int s = 0; s < 2; s++)
                {
                    selected.AsSpan((h * d + s * half + i) * rowBytes, rowBytes).CopyTo(permuted.AsSpan((h * d + 2 * i + s) * rowBytes, rowBytes));
                }
            }
        }
        return permuted;
    }

    /// <summary>
    /// MXFP4 from the checkpoint layout (codes <c>[N, K/2]</c>, element 2i in the low nibble of byte i; E8M0 scales
    /// <c>[N, K/32]</c>) to ggml's block records (the E8M0 byte, then 16 bytes with element j in the low nibble and j + 16 in
    /// the high nibble of byte j): the same codes and scales, moved, nothing requantized.
    /// </summary>
    internal static byte[] Mxfp4ToGgml(ReadOnlySpan<byte> blocks, ReadOnlySpan<byte> scales, int rows, int columns)
    {
        int perRow = columns / 32;
        var result = new byte[(long)rows * perRow * 17];
        for (long b = 0; b < (long)rows * perRow; b++)
        {
            var codes = blocks.Slice((int)(b * 16), 16);
            var record = result.AsSpan((int)(b * 17), 17);
            record[0] = scales[(int)b];
            for (int j = 0; j < 16; j++)
            {
                int low = (codes[j / 2] >> (4 * (j % 2))) & 0xF;
                int high = (codes[(j + 16) / 2] >> (4 * ((j + 16) % 2))) & 0xF;
                record[1 + j] = (byte)(low | (high << 4));
            }
        }
        return result;
    }
}
