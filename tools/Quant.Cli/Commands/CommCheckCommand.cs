using System;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using Quant.Runtime.Distributed;

namespace Quant.Cli.Commands;

/// <summary>
/// <c>quant comm-check</c> (hidden): runs every collective of a comm for a number of rounds and checks
/// each result bit for bit against sums taken in rank order. Each rank prints one line with a digest of
/// its results, equal on every rank and for both transports when all is well; under MPI each process
/// prints its own rank's line. <c>mpirun -np 4 quant comm-check --comm mpi</c> checks an MPI setup before
/// a tensor-parallel run.
/// </summary>
internal static class CommCheckCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext context)
    {
        var comm = CommonOptions.Comm();
        var ranks = new Option<int>("--tp")
        {
            Description = "Ranks: threads for inproc; for mpi, mpirun's -np (0 takes it from mpirun).",
            HelpName = "N",
            DefaultValueFactory = _ => 0,
        };
        var rounds = new Option<int>("--rounds") { Description = "Rounds of every collective.", HelpName = "R", DefaultValueFactory = _ => 40 };
        var length = new Option<int>("--length") { Description = "The longest payload, in elements.", HelpName = "L", DefaultValueFactory = _ => 1000 };
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the data.", HelpName = "S", DefaultValueFactory = _ => 1UL };
        var failRank = new Option<int>("--fail-rank")
        {
            Description = "A rank that throws half-way, to see the others stop instead of waiting (tests).",
            HelpName = "r",
            DefaultValueFactory = _ => -1,
        };
        var skewRank = new Option<int>("--skew-rank")
        {
            Description = "A rank that passes a different length to one extra SumAllReduce, which every rank must refuse alike (tests).",
            HelpName = "r",
            DefaultValueFactory = _ => -1,
        };
        var timeout = new Option<double>("--timeout")
        {
            Description = "inproc: seconds a rank waits in one collective before the group is aborted.",
            HelpName = "seconds",
            DefaultValueFactory = _ => 60,
        };
        var command = new Command("comm-check", "Checks the collectives of a comm (inproc or mpi) bit for bit against rank-ordered sums.")
        {
            Hidden = true,
        };
        foreach (var option in new Option[] { comm, ranks, rounds, length, seed, failRank, skewRank, timeout }) command.Options.Add(option);
        command.SetAction(parse => context.Guard(() =>
        {
            var kind = CommonOptions.ResolveComm(parse.GetValue(comm));
            int worldSize = parse.GetValue(ranks), roundCount = parse.GetValue(rounds), maxLength = parse.GetValue(length);
            if (worldSize == 0 && kind == CommKind.InProcess) worldSize = 4;
            if (worldSize < 0 || worldSize > InProcessComm.MaxWorldSize) throw CliException.Usage(Text($"--tp must be in [0, {InProcessComm.MaxWorldSize}]; got {worldSize}."));
            CommonOptions.CheckPositive("--rounds", roundCount);
            if (maxLength < 0 || maxLength > (1 << 24)) throw CliException.Usage(Text($"--length must be in [0, {1 << 24}]; got {maxLength}."));
            double seconds = parse.GetValue(timeout);
            if (!(seconds > 0)) throw CliException.Usage(Text($"--timeout must be positive; got {seconds}."));
            ulong dataSeed = parse.GetValue(seed);
            int failing = parse.GetValue(failRank), skewed = parse.GetValue(skewRank);

            var reports = Comm.Run(kind, worldSize, c =>
            {
                if (c.Rank == 0)
                {
                    lock (context.Out)
                    {
                        context.Out.WriteLine(Text($"comm-check: {Comm.Name(kind)}, {c.WorldSize} rank(s), {roundCount} rounds of up to {maxLength} elements, seed {dataSeed}"));
                    }
                }
                var report = CommCheck.Run(c, roundCount, maxLength, dataSeed, failing, skewed);
                if (kind == CommKind.Mpi) Print(context, report);
                return report;
            }, TimeSpan.FromSeconds(seconds));
            if (kind == CommKind.InProcess)
            {
                foreach (var result in reports) Print(context, result.Value);
            }
            var failed = reports.Where(r => !r.Value.Ok).Select(r => r.Rank).ToArray();
            if (failed.Length > 0)
            {
                throw CliException.Failure($"comm-check: the collectives gave wrong results on rank(s) {string.Join(", ", failed)}.");
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void Print(CliContext context, CommCheckReport report)
    {
        lock (context.Out)
        {
            context.Out.WriteLine(report.ToString());
            context.Out.Flush();
        }
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
