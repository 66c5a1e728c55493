using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Quant.Runtime.Distributed;
using Xunit.Abstractions;

namespace Quant.Cli.Tests;

/// <summary>
/// <c>quant comm-check</c> in process, and under <c>mpirun --oversubscribe -np N</c> for N = 2, 3, 4:
/// every rank's results equal the rank-ordered reference (each rank checks), carry the same digest on
/// every rank, and the digest equals the in-process group's of the same size (the two transports give
/// the same bits). Without mpirun the MPI tests are skipped with the reason, except under <c>CI=true</c>,
/// where they run and fail.
/// </summary>
public sealed partial class CommCheckTests(ITestOutputHelper output)
{
    private static readonly string[] CheckArguments = ["--rounds", "20", "--length", "700", "--seed", "5"];

    [GeneratedRegex(@"rank (\d+)/(\d+): ok, (\d+) rounds, digest ([0-9a-f]{16})")]
    private static partial Regex OkLine();

    /// <summary>Each rank's digest from the output's "rank r/n: ok" lines (the lines may carry terminal escapes under mpirun).</summary>
    private static Dictionary<int, string> Digests(string text, int worldSize)
    {
        var digests = new Dictionary<int, string>();
        foreach (Match m in OkLine().Matches(text))
        {
            Assert.Equal(worldSize, int.Parse(m.Groups[2].Value));
            Assert.True(digests.TryAdd(int.Parse(m.Groups[1].Value), m.Groups[4].Value), $"rank {m.Groups[1].Value} reported twice: {text}");
        }
        return digests;
    }

    private static string InProcessDigest(int worldSize)
    {
        var result = CliRunner.Ok(["comm-check", "--tp", worldSize.ToString(), .. CheckArguments]);
        var digests = Digests(result.Out, worldSize);
        Assert.Equal(Enumerable.Range(0, worldSize), digests.Keys.Order());
        return Assert.Single(digests.Values.Distinct());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(8)]
    public void InProcess_EveryRankPasses_WithOneDigest(int worldSize) => InProcessDigest(worldSize);

    [Fact]
    public void InProcess_ARankThatThrows_EndsTheRunWithItsError()
    {
        var result = CliRunner.Run("comm-check", "--tp", "3", "--fail-rank", "1", "--timeout", "20");
        Assert.Equal(ExitCodes.Failure, result.ExitCode);
        Assert.Contains("rank 1 fails on purpose", Assert.Single(result.ErrLines));
    }

    [Fact]
    public void InProcess_ASkewedLength_IsRefusedByEveryRank_WhichGoOn()
    {
        var result = CliRunner.Ok("comm-check", "--tp", "4", "--skew-rank", "2", "--rounds", "5");
        Assert.Equal(4, Digests(result.Out, 4).Count);
    }

    [Fact]
    public void UnknownComm_IsAUsageError()
    {
        var result = CliRunner.Run("comm-check", "--comm", "nccl");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("unknown --comm 'nccl'; known: inproc, mpi", result.Err);
    }

    [Fact]
    public void Mpi_OutsideMpirun_FailsWithOneLineThatSaysHowToStartIt()
    {
        if (MpiComm.IsLaunchedByMpi) return;
        var result = CliRunner.Run("comm-check", "--comm", "mpi");
        Assert.Equal(ExitCodes.Failure, result.ExitCode);
        Assert.Contains("mpirun -np N", Assert.Single(result.ErrLines));
    }

    [MpiTheory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void UnderMpirun_EveryRankMatchesTheReference_AndTheInProcessDigest(int worldSize)
    {
        var run = Mpirun.Run(worldSize, ["comm-check", "--comm", "mpi", "--tp", worldSize.ToString(), "--skew-rank", "1", .. CheckArguments], output);
        Assert.True(run.ExitCode == 0, $"mpirun -np {worldSize} exited with {run.ExitCode}: {run}");
        var digests = Digests(run.Out, worldSize);
        Assert.Equal(Enumerable.Range(0, worldSize), digests.Keys.Order());
        Assert.Equal(InProcessDigest(worldSize), Assert.Single(digests.Values.Distinct()));
    }

    [MpiFact]
    public void UnderMpirun_ARankThatThrows_AbortsTheJob_InsteadOfHangingIt()
    {
        var run = Mpirun.Run(3, ["comm-check", "--comm", "mpi", "--fail-rank", "1", .. CheckArguments], output);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("MPI rank 1/3: aborting the job: InvalidOperationException: rank 1 fails on purpose", run.Err);
    }
}

/// <summary>Starts <c>quant</c> under <c>mpirun</c> and collects what it wrote; kills it when it runs too long.</summary>
internal static class Mpirun
{
    /// <summary>How long one mpirun may take before the test fails as hung.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    /// <summary>The mpirun on PATH, or null.</summary>
    public static string? Find() => FindOnPath("mpirun");

    private static string? FindOnPath(string program)
    {
        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(folder, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Whether the MPI tests must run (and fail without mpirun) rather than skip.</summary>
    public static bool Required => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static CliResult Run(int processes, string[] arguments, ITestOutputHelper output)
    {
        string mpirun = Find() ?? throw new InvalidOperationException(
            "mpirun is not on PATH: the MPI tests need Open MPI (apt-get install openmpi-bin libopenmpi-dev; .ci/run does it).");
        string quant = Path.Combine(AppContext.BaseDirectory, "quant.dll");
        Assert.True(File.Exists(quant), $"{quant} is missing: the test project references the CLI, which should put it there.");
        string dotnet = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";

        var start = new ProcessStartInfo(mpirun)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "--oversubscribe", "-np", processes.ToString(), dotnet, quant }.Concat(arguments)) start.ArgumentList.Add(a);
        // CI runs as root, which mpirun refuses without these; harmless otherwise.
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        // Open MPI gives the ranks a pseudo-terminal; keep .NET from writing terminal escapes into it.
        start.Environment["TERM"] = "dumb";
        // Open MPI 4's mpirun refuses to start without an ssh or rsh agent, even for ranks on this machine;
        // its 'isolated' launcher starts local ranks only and needs none.
        if (FindOnPath("ssh") is null && FindOnPath("rsh") is null) start.Environment["OMPI_MCA_plm"] = "isolated";

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {processes} quant {string.Join(' ', arguments)} did not finish in {Limit.TotalSeconds} s (a hang); stdout so far: {stdout}");
        }
        process.WaitForExit();
        var result = new CliResult(process.ExitCode, stdout.Result, stderr.Result);
        output.WriteLine($"mpirun -np {processes} quant {string.Join(' ', arguments)}: exit {result.ExitCode} in {watch.Elapsed.TotalSeconds:0.0} s");
        output.WriteLine(result.Out);
        output.WriteLine(result.Err);
        return result;
    }

    /// <summary>The skip reason for the MPI tests here, or null when they run.</summary>
    public static string? SkipReason => Required || Find() is not null
        ? null
        : "mpirun is not on PATH (apt-get install openmpi-bin libopenmpi-dev); CI=true makes this test run and fail instead.";
}

/// <summary>A fact that needs mpirun: skipped with the reason where it is missing, except under CI.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute() => Skip = Mpirun.SkipReason;
}

/// <summary>A theory that needs mpirun: skipped with the reason where it is missing, except under CI.</summary>
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute() => Skip = Mpirun.SkipReason;
}
