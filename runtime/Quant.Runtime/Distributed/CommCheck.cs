using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Quant.Runtime.Distributed;

/// <summary>What one rank of <see cref="CommCheck.Run"/> found.</summary>
/// <param name="Rank">The rank.</param>
/// <param name="WorldSize">The group's size.</param>
/// <param name="Rounds">The rounds run.</param>
/// <param name="Digest">A hash of every result this rank received: equal on every rank, and between transports, when the collectives agree.</param>
/// <param name="Failures">What differed from the reference (at most a few lines); empty when everything matched.</param>
internal sealed record CommCheckReport(int Rank, int WorldSize, int Rounds, ulong Digest, IReadOnlyList<string> Failures)
{
    public bool Ok => Failures.Count == 0;

    /// <summary>The line <c>quant comm-check</c> prints for this rank, which the MPI tests parse.</summary>
    public override string ToString() => Ok
        ? $"rank {Rank}/{WorldSize}: ok, {Rounds} rounds, digest {Digest:x16}"
        : $"rank {Rank}/{WorldSize}: FAILED after {Rounds} rounds: {string.Join(" | ", Failures)}";
}

/// <summary>
/// A self-test of a comm (<c>quant comm-check</c>): rounds of every collective on seeded data of varying
/// lengths (0 and 1 included), each result compared bit for bit with a reference the rank computes
/// itself, from every rank's data, with sums in rank order. The values span 40 binades with random signs,
/// so a sum taken in any other order differs; some elements are <c>-0</c> on every rank (the sum must stay
/// <c>-0</c>) or cancel exactly.
/// </summary>
internal static class CommCheck
{
    private const int MaxFailures = 4;

    /// <summary>Runs the check on one rank; every rank of the group calls it with the same arguments.</summary>
    /// <param name="comm">This rank's comm.</param>
    /// <param name="rounds">Rounds of every collective.</param>
    /// <param name="maxLength">The longest payload, in elements.</param>
    /// <param name="seed">The seed of the data.</param>
    /// <param name="failRank">A rank that throws in the middle (to test that a failing rank does not hang the others), or -1.</param>
    /// <param name="skewRank">
    /// A rank that passes one element more to an extra SumAllReduce in round 2, where every rank must throw
    /// the same <see cref="CommException"/> and then go on as before; or -1.
    /// </param>
    public static CommCheckReport Run(IComm comm, int rounds, int maxLength, ulong seed, int failRank = -1, int skewRank = -1)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentOutOfRangeException.ThrowIfNegative(rounds);
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        int n = comm.WorldSize, rank = comm.Rank;
        var failures = new List<string>();
        ulong digest = 0xCBF29CE484222325UL;
        var values = new float[maxLength];
        var expected = new float[Math.Max(maxLength, 1) * n];
        var gathered = new float[Math.Max(maxLength, 1) * n];
        var bytes = new byte[maxLength];
        var gatheredBytes = new byte[Math.Max(maxLength, 1) * n];
        var expectedBytes = new byte[Math.Max(maxLength, 1) * n];

        for (int round = 0; round < rounds; round++)
        {
            if (rank == failRank && round == rounds / 2)
            {
                throw new InvalidOperationException($"rank {rank} fails on purpose in round {round} (--fail-rank).");
            }
            int length = round switch { 0 => 0, 1 => 1, _ => (int)(Hash(seed, round, -2, 0) % (ulong)(maxLength + 1)) };
            int root = round % n;
            var mine = values.AsSpan(0, length);
            if (round == 2 && skewRank >= 0) CheckSkew(comm, length + (rank == skewRank ? 1 : 0), skewRank, failures);

            // SumAllReduce against ((v0 + v1) + v2) + ... in float32.
            Fill(mine, seed, round, rank);
            comm.SumAllReduce(mine);
            var reference = expected.AsSpan(0, length);
            Fill(reference, seed, round, 0);
            var addend = gathered.AsSpan(0, length);
            for (int r = 1; r < n; r++)
            {
                Fill(addend, seed, round, r);
                for (int i = 0; i < length; i++) reference[i] += addend[i];
            }
            Compare("SumAllReduce", round, mine, reference, failures);
            digest = Fold(digest, MemoryMarshal.AsBytes(mine));

            // AllGather of floats and of bytes.
            Fill(mine, seed, round, rank);
            var all = gathered.AsSpan(0, length * n);
            comm.AllGather(mine, all);
            for (int r = 0; r < n; r++) Fill(expected.AsSpan(r * length, length), seed, round, r);
            Compare("AllGather(float)", round, all, expected.AsSpan(0, length * n), failures);
            digest = Fold(digest, MemoryMarshal.AsBytes(all));

            var myBytes = bytes.AsSpan(0, length);
            FillBytes(myBytes, seed, round, rank);
            var allBytes = gatheredBytes.AsSpan(0, length * n);
            comm.AllGather(myBytes, allBytes);
            for (int r = 0; r < n; r++) FillBytes(expectedBytes.AsSpan(r * length, length), seed, round, r);
            if (!allBytes.SequenceEqual(expectedBytes.AsSpan(0, length * n)) && failures.Count < MaxFailures)
            {
                failures.Add($"AllGather(byte) round {round}: the bytes differ from the ranks' data");
            }
            digest = Fold(digest, allBytes);

            // Broadcast from a root that moves round by round.
            Fill(mine, seed, round, rank);
            comm.Broadcast(mine, root);
            Fill(reference, seed, round, root);
            Compare($"Broadcast(float) from {root}", round, mine, reference, failures);
            digest = Fold(digest, MemoryMarshal.AsBytes(mine));

            FillBytes(myBytes, seed, round, rank);
            comm.Broadcast(myBytes, root);
            FillBytes(expectedBytes.AsSpan(0, length), seed, round, root);
            if (!myBytes.SequenceEqual(expectedBytes.AsSpan(0, length)) && failures.Count < MaxFailures)
            {
                failures.Add($"Broadcast(byte) from {root} round {round}: the bytes differ from the root's");
            }
            digest = Fold(digest, myBytes);

            comm.Barrier();
        }
        return new CommCheckReport(rank, n, rounds, digest, failures);
    }

    /// <summary>A SumAllReduce whose length differs on <paramref name="skewRank"/>: every rank must throw a CommException that says so.</summary>
    private static void CheckSkew(IComm comm, int length, int skewRank, List<string> failures)
    {
        string? problem;
        try
        {
            comm.SumAllReduce(new float[length]);
            problem = "a SumAllReduce with a length that differs on one rank did not throw";
        }
        catch (CommException e) when (e is not CommAbortedException)
        {
            problem = e.Message.Contains("different lengths", StringComparison.Ordinal) && e.Message.Contains($"on rank {skewRank}", StringComparison.Ordinal)
                ? null
                : $"a SumAllReduce with a length that differs on rank {skewRank} threw an unexpected message: {e.Message}";
        }
        if (problem is not null && failures.Count < MaxFailures) failures.Add(problem);
    }

    /// <summary>Rank <paramref name="rank"/>'s floats of round <paramref name="round"/>.</summary>
    public static void Fill(Span<float> destination, ulong seed, int round, int rank)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            ulong shared = Hash(seed, round, -1, i);
            ulong own = Hash(seed, round, rank, i);
            destination[i] = (shared % 53) switch
            {
                0 => -0.0f,
                // The same magnitude with alternating signs: the rank-ordered sum cancels exactly at times.
                1 => Draw(shared) * ((rank & 1) == 0 ? 1 : -1),
                _ => Draw(own),
            };
        }
    }

    private static void FillBytes(Span<byte> destination, ulong seed, int round, int rank)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = (byte)(Hash(seed, round, rank, i + 0x40000000L) >> 56);
    }

    /// <summary>A float with a random sign and mantissa and an exponent in [-20, 20].</summary>
    private static float Draw(ulong bits)
    {
        uint mantissa = (uint)(bits & 0x7FFFFF);
        uint exponent = (uint)(127 - 20 + (int)((bits >> 23) % 41));
        uint sign = (uint)(bits >> 63);
        return BitConverter.UInt32BitsToSingle(sign << 31 | exponent << 23 | mantissa);
    }

    private static void Compare(string what, int round, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, List<string> failures)
    {
        var a = MemoryMarshal.Cast<float, uint>(actual);
        var e = MemoryMarshal.Cast<float, uint>(expected);
        int i = FirstDifference(a, e);
        if (i >= 0 && failures.Count < MaxFailures)
        {
            failures.Add($"{what} round {round}, element {i} of {a.Length}: got 0x{a[i]:x8} ({actual[i]:R}), expected 0x{e[i]:x8} ({expected[i]:R})");
        }
    }

    private static int FirstDifference(ReadOnlySpan<uint> a, ReadOnlySpan<uint> b)
    {
        int common = a.CommonPrefixLength(b);
        return common == a.Length && a.Length == b.Length ? -1 : common;
    }

    private static ulong Fold(ulong digest, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) digest = (digest ^ b) * 0x100000001B3UL;
        return (digest ^ (ulong)bytes.Length) * 0x100000001B3UL;
    }

    private static ulong Hash(ulong seed, int round, int rank, long index)
        => Mix(seed ^ Mix((ulong)round * 0x9E3779B97F4A7C15UL ^ Mix((ulong)(uint)rank * 0xD1B54A32D192ED03UL ^ Mix((ulong)index))));

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
