using BenchmarkDotNet.Running;

namespace Quant.Bench;

/// <summary>
/// Runs the benchmarks BenchmarkDotNet's way: <c>dotnet run -c Release --project bench/Quant.Bench -- --filter '*'</c>
/// (or <c>--filter '*Gemv*'</c>, <c>--list flat</c>, <c>--job short</c>, ...). Every benchmark class carries the
/// memory diagnoser, whose "Allocated" column must read "-" (0 B) for each hot path.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
