using System;
using System.Linq;
using Quant.Runtime.Distributed;
using static Quant.Runtime.Tests.CommTestSupport;

namespace Quant.Runtime.Tests;

/// <summary>The <c>--comm</c> names, <see cref="Comm"/>'s factory and MPI's refusal outside mpirun.</summary>
public sealed class CommFactoryTests
{
    [Theory]
    [InlineData("inproc", CommKind.InProcess)]
    [InlineData("In-Process", CommKind.InProcess)]
    [InlineData(" MPI ", CommKind.Mpi)]
    public void TryParseKind_AcceptsTheNames(string name, CommKind expected)
    {
        Assert.True(Comm.TryParseKind(name, out var kind));
        Assert.Equal(expected, kind);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("nccl")]
    public void TryParseKind_RefusesAnythingElse(string? name) => Assert.False(Comm.TryParseKind(name, out _));

    [Fact]
    public void KindNames_RoundTripThroughName() =>
        Assert.Equal(Comm.KindNames, Enum.GetValues<CommKind>().Select(Comm.Name));

    [Fact]
    public void Run_InProcess_ReturnsEveryRanksResult_InRankOrder()
    {
        var results = WithinLimit(() => Comm.Run(CommKind.InProcess, 4, comm =>
        {
            float[] value = [comm.Rank];
            comm.SumAllReduce(value);
            return value[0];
        }), "Comm.Run");
        Assert.Equal(Enumerable.Range(0, 4), results.Select(r => r.Rank));
        Assert.All(results, r => Assert.Equal(6f, r.Value));
    }

    [Fact]
    public void Create_InProcess_GivesTheGroupsComms()
    {
        var comms = Comm.Create(CommKind.InProcess, 3);
        Assert.Equal([0, 1, 2], comms.Select(c => c.Rank));
        Assert.All(comms, c => Assert.Equal(3, c.WorldSize));
    }

    [Fact]
    public void Mpi_OutsideMpirun_IsUnavailable_WithAReasonThatSaysHowToStartIt()
    {
        if (MpiComm.IsLaunchedByMpi) return; // the test host itself under mpirun: nothing to check here
        Assert.False(MpiComm.IsAvailable);
        Assert.Contains("mpirun", MpiComm.UnavailableReason);
        var e = Assert.Throws<CommException>(() => Comm.Create(CommKind.Mpi, 2));
        Assert.Contains("MPI is not available", e.Message);
        Assert.Contains("mpirun -np N", e.Message);
    }
}
