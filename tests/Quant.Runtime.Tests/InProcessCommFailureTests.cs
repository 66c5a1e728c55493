using System;
using System.Linq;
using System.Threading;
using Quant.Runtime.Distributed;
using static Quant.Runtime.Tests.CommTestSupport;

namespace Quant.Runtime.Tests;

/// <summary>
/// Ranks that disagree, fail, leave or stall: every rank gets an exception that says what happened, and
/// nothing hangs (each test fails after <see cref="CommTestSupport.HangLimit"/> instead of blocking).
/// </summary>
public sealed class InProcessCommFailureTests
{
    private sealed class RankFailure(string message) : Exception(message);

    /// <summary>Runs <paramref name="body"/> on every rank and returns what each threw (null: nothing).</summary>
    private static Exception?[] Outcomes(int worldSize, Action<IComm> body, TimeSpan? timeout = null) => WithinLimit(() =>
    {
        var outcomes = new Exception?[worldSize];
        InProcessComm.Run(worldSize, comm =>
        {
            try
            {
                body(comm);
            }
            catch (Exception e)
            {
                outcomes[comm.Rank] = e;
            }
        }, timeout);
        return outcomes;
    }, "the ranks");

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void MismatchedLengths_ThrowOnEveryRank_AndTheGroupStaysUsable(int worldSize)
    {
        var sums = new float[worldSize][];
        var outcomes = Outcomes(worldSize, comm =>
        {
            var values = new float[comm.Rank == worldSize - 1 ? 5 : 4];
            var e = Assert.Throws<CommException>(() => comm.SumAllReduce(values));
            Assert.Contains("different lengths", e.Message);
            Assert.Contains($"5 elements on rank {worldSize - 1}", e.Message);
            // Every rank saw the same disagreement at the same collective, so the next one works.
            var ones = Enumerable.Repeat(1.0f, 3).ToArray();
            comm.SumAllReduce(ones);
            sums[comm.Rank] = ones;
        });
        Assert.All(outcomes, Assert.Null);
        Assert.All(sums, s => Assert.Equal(Enumerable.Repeat((float)worldSize, 3), s));
    }

    [Fact]
    public void DifferentCollectives_ThrowOnEveryRank_NamingThem()
    {
        var outcomes = Outcomes(3, comm =>
        {
            var values = new float[4];
            if (comm.Rank == 1) comm.AllGather(values, new float[12]);
            else comm.SumAllReduce(values);
        });
        Assert.All(outcomes, e =>
        {
            var ce = Assert.IsType<CommException>(e);
            Assert.Contains("different collectives", ce.Message);
            Assert.Contains("SumAllReduce on ranks 0, 2", ce.Message);
            Assert.Contains("AllGather(float) on rank 1", ce.Message);
        });
    }

    [Fact]
    public void DifferentRoots_ThrowOnEveryRank()
    {
        var outcomes = Outcomes(2, comm => comm.Broadcast(new float[3], comm.Rank));
        Assert.All(outcomes, e => Assert.Contains("different roots", Assert.IsType<CommException>(e).Message));
    }

    [Fact]
    public void AWrongGatheredLength_ThrowsArgumentExceptionThere_AndCommExceptionElsewhere()
    {
        var outcomes = Outcomes(3, comm => comm.AllGather(new float[4], new float[comm.Rank == 2 ? 11 : 12]));
        Assert.Contains("needs a gathered span", Assert.IsType<ArgumentException>(outcomes[2]).Message);
        foreach (int rank in new[] { 0, 1 })
        {
            Assert.Contains("rank 2 passed invalid arguments", Assert.IsType<CommException>(outcomes[rank]).Message);
        }
    }

    [Fact]
    public void ARootOutOfRange_ThrowsArgumentOutOfRangeThere_AndCommExceptionElsewhere()
    {
        var outcomes = Outcomes(2, comm => comm.Broadcast(new byte[3], comm.Rank == 0 ? 0 : 7));
        Assert.IsType<ArgumentOutOfRangeException>(outcomes[1]);
        Assert.Contains("rank 1 passed invalid arguments", Assert.IsType<CommException>(outcomes[0]).Message);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void ARankThatThrows_AbortsTheOthers_AndRunRethrowsItsException(int worldSize)
    {
        int failing = worldSize / 2;
        var seen = new Exception?[worldSize];
        var thrown = WithinLimit(() => Record.Exception(() => InProcessComm.Run(worldSize, comm =>
        {
            if (comm.Rank == failing) throw new RankFailure($"rank {comm.Rank} failed");
            try
            {
                // The others keep calling collectives: each must end with an exception, not wait forever.
                for (int i = 0; ; i++) comm.SumAllReduce(new float[8]);
            }
            catch (Exception e)
            {
                seen[comm.Rank] = e;
                throw;
            }
        })), "a group with a failing rank");

        Assert.Equal($"rank {failing} failed", Assert.IsType<RankFailure>(thrown).Message);
        for (int rank = 0; rank < worldSize; rank++)
        {
            if (rank == failing) continue;
            var aborted = Assert.IsType<CommAbortedException>(seen[rank]);
            Assert.Equal(failing, aborted.FailedRank);
            Assert.Contains($"aborted by rank {failing}", aborted.Message);
            Assert.Contains($"rank {failing} failed", aborted.Message);
            Assert.IsType<RankFailure>(aborted.InnerException);
        }
    }

    [Fact]
    public void ARankThatReturnsEarly_DoesNotHangTheOthers()
    {
        var outcomes = Outcomes(3, comm =>
        {
            if (comm.Rank == 1) return;
            comm.Barrier();
        });
        Assert.Null(outcomes[1]);
        foreach (int rank in new[] { 0, 2 })
        {
            var e = Assert.IsType<CommAbortedException>(outcomes[rank]);
            Assert.Equal(1, e.FailedRank);
            Assert.Contains("rank 1 left the group", e.Message);
        }
    }

    [Fact]
    public void Abort_UnblocksTheRanksWaitingInACollective()
    {
        var comms = InProcessComm.CreateGroup(3);
        var waiting = new Thread[2];
        var outcomes = new Exception?[2];
        for (int r = 0; r < 2; r++)
        {
            int rank = r;
            waiting[r] = new Thread(() => outcomes[rank] = Record.Exception(() => comms[rank].Barrier())) { IsBackground = true };
            waiting[r].Start();
        }
        foreach (var thread in waiting) WaitUntilBlocked(thread);
        comms[2].Abort("out of memory on rank 2");
        foreach (var thread in waiting) Assert.True(thread.Join(HangLimit), "a rank still waits after the abort");
        Assert.All(outcomes, e => Assert.Contains("out of memory on rank 2", Assert.IsType<CommAbortedException>(e).Message));
        // The aborting rank's own next call fails too.
        Assert.IsType<CommAbortedException>(Record.Exception(() => comms[2].Barrier()));
    }

    [Fact]
    public void ACollectiveTimeout_AbortsTheGroup_NamingTheRanksThatNeverArrived()
    {
        var comms = InProcessComm.CreateGroup(3, TimeSpan.FromMilliseconds(200));
        var e = WithinLimit(() => Record.Exception(() => comms[0].SumAllReduce(new float[2])), "a collective with a timeout");
        var aborted = Assert.IsType<CommAbortedException>(e);
        Assert.Equal(-1, aborted.FailedRank);
        Assert.Contains("timed out", aborted.Message);
        Assert.Contains("ranks 1, 2, which never arrived", aborted.Message);
        Assert.IsType<CommAbortedException>(Record.Exception(() => comms[1].Barrier()));
    }

    [Fact]
    public void DisposingARankWhileOthersWait_AbortsThem()
    {
        var comms = InProcessComm.CreateGroup(2);
        Exception? outcome = null;
        var waiter = new Thread(() => outcome = Record.Exception(() => comms[0].Barrier())) { IsBackground = true };
        waiter.Start();
        WaitUntilBlocked(waiter);
        comms[1].Dispose();
        Assert.True(waiter.Join(HangLimit), "rank 0 still waits for a disposed rank");
        Assert.Contains("rank 1 left the group", Assert.IsType<CommAbortedException>(outcome).Message);
    }

    [Fact]
    public void OneCommCalledFromTwoThreadsAtOnce_Throws()
    {
        var comms = InProcessComm.CreateGroup(2, TimeSpan.FromSeconds(20));
        var first = new Thread(() => comms[0].Barrier()) { IsBackground = true };
        first.Start();
        WaitUntilBlocked(first);
        var e = Assert.Throws<InvalidOperationException>(() => comms[0].Barrier());
        Assert.Contains("two threads at once", e.Message);
        comms[1].Barrier();
        Assert.True(first.Join(HangLimit));
    }

    /// <summary>Waits until <paramref name="thread"/> blocks (in a collective's wait), at most a few seconds.</summary>
    private static void WaitUntilBlocked(Thread thread)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while ((thread.ThreadState & ThreadState.WaitSleepJoin) == 0 && DateTime.UtcNow < deadline) Thread.Sleep(1);
    }
}
