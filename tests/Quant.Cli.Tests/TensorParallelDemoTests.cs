using System.Linq;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Quant.Cli.Tests;

/// <summary>
/// <c>quant demo --tp N</c>: the synthetic transformer block (attention and mxfp4 experts) sharded over N ranks
/// matches the one-rank run on every rank, in process and across processes under mpirun.
/// </summary>
public sealed partial class TensorParallelDemoTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"rank (\d+)/(\d+): .*max \|y - y_1rank\| = (\S+) \(tolerance (\S+)\): matches")]
    private static partial Regex MatchLine();

    private static int[] MatchingRanks(string text, int worldSize) =>
        MatchLine().Matches(text).Select(m =>
        {
            Assert.Equal(worldSize, int.Parse(m.Groups[2].Value));
            return int.Parse(m.Groups[1].Value);
        }).Order().ToArray();

    [Theory]
    [InlineData(1, null)]
    [InlineData(2, "q8_0")]
    [InlineData(4, null)]
    [InlineData(8, "q4_0")]
    public void InProcess_EveryRankMatchesTheUnshardedBlock(int worldSize, string? isq)
    {
        string[] args = isq is null ? ["demo", "--tp", worldSize.ToString()] : ["demo", "--tp", worldSize.ToString(), "--isq", isq];
        var result = CliRunner.Ok(args);
        output.WriteLine(result.Out);
        Assert.Equal(Enumerable.Range(0, worldSize), MatchingRanks(result.Out, worldSize));
        Assert.Contains($"the {worldSize}-rank output matches the unsharded run on every rank", result.Out);
    }

    [Fact]
    public void BadArguments_AreUsageErrors()
    {
        Assert.Equal(ExitCodes.Usage, CliRunner.Run("demo", "--tp", "-1").ExitCode);
        Assert.Equal(ExitCodes.Usage, CliRunner.Run("demo", "--tp", "2", "--isq", "q9_9").ExitCode);
        // 3 ranks do not divide 8 heads: bad data, said in one line.
        var three = CliRunner.Run("demo", "--tp", "3");
        Assert.NotEqual(0, three.ExitCode);
        Assert.Contains("8 attention heads do not split over 3 ranks", three.Err);
    }

    [MpiTheory]
    [InlineData(2)]
    [InlineData(4)]
    public void UnderMpirun_EveryProcessMatchesTheUnshardedBlock(int worldSize)
    {
        var run = Mpirun.Run(worldSize, ["demo", "--tp", worldSize.ToString(), "--comm", "mpi"], output);
        Assert.True(run.ExitCode == 0, $"mpirun -np {worldSize} quant demo exited with {run.ExitCode}: {run}");
        Assert.Equal(Enumerable.Range(0, worldSize), MatchingRanks(run.Out, worldSize));
    }
}
