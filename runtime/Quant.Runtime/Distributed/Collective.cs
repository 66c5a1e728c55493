using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace Quant.Runtime.Distributed;

/// <summary>The collectives, as the ranks announce them to each other before moving any payload.</summary>
internal enum CollectiveOp
{
    Barrier = 1,
    SumAllReduceFloat,
    AllGatherFloat,
    AllGatherByte,
    BroadcastFloat,
    BroadcastByte,
}

/// <summary>
/// What one rank is about to do, exchanged by every rank before the payload of each collective, so that
/// ranks that disagree (another collective, length or root; a rank out of step) all throw the same
/// <see cref="CommException"/> instead of corrupting memory, truncating or hanging.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CollectiveHeader
{
    public int Op;
    public int Root;
    public long Count;
    public long Sequence;
    /// <summary>Non-zero when the rank's own arguments were wrong: it throws its ArgumentException, the others a CommException.</summary>
    public int Invalid;
    private readonly int _padding;

    public CollectiveHeader(CollectiveOp op, long count, int root, long sequence, bool invalid)
    {
        Op = (int)op;
        Count = count;
        Root = root;
        Sequence = sequence;
        Invalid = invalid ? 1 : 0;
        _padding = 0;
    }

    public static unsafe int Size => sizeof(CollectiveHeader);
}

/// <summary>The parts every implementation shares: the header check, its messages and the rank-ordered sum.</summary>
internal static class Collective
{
    public static string Name(CollectiveOp op) => op switch
    {
        CollectiveOp.Barrier => "Barrier",
        CollectiveOp.SumAllReduceFloat => "SumAllReduce",
        CollectiveOp.AllGatherFloat => "AllGather(float)",
        CollectiveOp.AllGatherByte => "AllGather(byte)",
        CollectiveOp.BroadcastFloat => "Broadcast(float)",
        CollectiveOp.BroadcastByte => "Broadcast(byte)",
        _ => $"unknown collective {(int)op}",
    };

    /// <summary>
    /// Checks that every rank announced the same collective. Returns null when they agree, or the message
    /// every rank throws with otherwise; it depends only on <paramref name="headers"/>, so it is the same
    /// on every rank.
    /// </summary>
    public static string? Disagreement(ReadOnlySpan<CollectiveHeader> headers)
    {
        ref readonly CollectiveHeader first = ref headers[0];
        bool agree = true, anyInvalid = false;
        foreach (ref readonly CollectiveHeader h in headers)
        {
            agree &= h.Op == first.Op && h.Count == first.Count && h.Root == first.Root && h.Sequence == first.Sequence;
            anyInvalid |= h.Invalid != 0;
        }
        if (agree && !anyInvalid) return null;

        var headerArray = headers.ToArray();
        // A rank's own wrong argument (a root out of range, a gathered span of the wrong length) comes first:
        // it usually makes the headers disagree too, but the argument is what the user has to fix.
        if (anyInvalid)
        {
            var invalid = new List<int>();
            for (int r = 0; r < headerArray.Length; r++)
            {
                if (headerArray[r].Invalid != 0) invalid.Add(r);
            }
            return $"{Ranks(invalid)} passed invalid arguments to {Name((CollectiveOp)headerArray[invalid[0]].Op)} "
                + $"(collective #{headerArray[invalid[0]].Sequence}); see the ArgumentException thrown there.";
        }
        if (!AllSame(headerArray, h => h.Sequence))
        {
            return "the ranks are out of step (a rank skipped or repeated a collective): "
                + Describe(headerArray, h => h.Sequence, s => $"collective #{s}")
                + "; " + Describe(headerArray, h => h.Op, op => Name((CollectiveOp)op)) + ".";
        }
        string at = $"collective #{first.Sequence}";
        if (!AllSame(headerArray, h => h.Op))
        {
            return $"the ranks called different collectives at {at}: " + Describe(headerArray, h => h.Op, op => Name((CollectiveOp)op)) + ".";
        }
        string name = $"{Name((CollectiveOp)first.Op)} ({at})";
        if (!AllSame(headerArray, h => h.Count))
        {
            return $"the ranks passed different lengths to {name}: " + Describe(headerArray, h => h.Count, c => $"{c} elements") + ".";
        }
        return $"the ranks passed different roots to {name}: " + Describe(headerArray, h => h.Root, r => $"root {r}") + ".";
    }

    private static bool AllSame<T>(CollectiveHeader[] headers, Func<CollectiveHeader, T> key)
    {
        var comparer = EqualityComparer<T>.Default;
        T value = key(headers[0]);
        foreach (var h in headers)
        {
            if (!comparer.Equals(key(h), value)) return false;
        }
        return true;
    }

    /// <summary>"100 elements on ranks 0, 1; 99 elements on rank 2": each distinct value with its ranks, in order of first appearance.</summary>
    private static string Describe<T>(CollectiveHeader[] headers, Func<CollectiveHeader, T> key, Func<T, string> format)
        where T : notnull
    {
        var groups = new List<(T Value, List<int> Ranks)>();
        for (int r = 0; r < headers.Length; r++)
        {
            T value = key(headers[r]);
            int index = groups.FindIndex(g => EqualityComparer<T>.Default.Equals(g.Value, value));
            if (index < 0)
            {
                groups.Add((value, new List<int>()));
                index = groups.Count - 1;
            }
            groups[index].Ranks.Add(r);
        }
        var text = new StringBuilder();
        foreach (var (value, ranks) in groups)
        {
            if (text.Length > 0) text.Append("; ");
            text.Append(format(value)).Append(" on ").Append(Ranks(ranks));
        }
        return text.ToString();
    }

    /// <summary>"rank 2" or "ranks 0, 1".</summary>
    public static string Ranks(IReadOnlyList<int> ranks)
        => (ranks.Count == 1 ? "rank " : "ranks ") + string.Join(", ", ranks);

    /// <summary>
    /// <paramref name="sum"/> += <paramref name="addend"/>, element by element. Each element is one IEEE
    /// float32 addition whatever the vector width, so the result does not depend on the machine's SIMD.
    /// </summary>
    public static void Add(Span<float> sum, ReadOnlySpan<float> addend)
    {
        if (addend.Length != sum.Length) throw new ArgumentException("lengths differ", nameof(addend));
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var sumVectors = MemoryMarshal.Cast<float, Vector<float>>(sum);
            var addendVectors = MemoryMarshal.Cast<float, Vector<float>>(addend);
            for (int v = 0; v < sumVectors.Length; v++) sumVectors[v] += addendVectors[v];
            i = sumVectors.Length * Vector<float>.Count;
        }
        for (; i < sum.Length; i++) sum[i] += addend[i];
    }
}
