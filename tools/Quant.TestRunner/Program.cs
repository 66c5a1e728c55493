using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Quant.TestRunner;

/// <summary>
/// Runs xunit suites in-process, for machines without the .NET SDK (the GPU machine gets this tool published
/// self-contained, with the suites and the quant tool inside):
/// <c>Quant.TestRunner test ASSEMBLY [--filter TEXT] [--verbose]</c> runs every test of a referenced test assembly (whose display
/// name contains TEXT), printing failures, skips with their reasons (and with --verbose each test's output), and a closing
/// "N passed, N failed, N skipped" line;
/// <c>Quant.TestRunner quant ARGS...</c> runs the quant tool.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length >= 1 && args[0] == "quant") return Quant.Cli.Cli.Run(args[1..], Console.Out, Console.Error);
        if (args.Length < 2 || args[0] != "test")
        {
            Console.Error.WriteLine("usage: Quant.TestRunner test ASSEMBLY [--filter TEXT] [--verbose] | Quant.TestRunner quant ARGS...");
            return 2;
        }
        string? filter = null;
        bool verbose = false;
        for (int i = 2; i < args.Length; i++)
        {
            if (args[i] == "--filter" && i + 1 < args.Length) filter = args[++i];
            else if (args[i] == "--verbose") verbose = true;
        }
        var assembly = Assembly.Load(new AssemblyName(args[1]));
        return Run(assembly, filter, verbose);
    }

    private static int Run(Assembly assembly, string? filter, bool verbose)
    {
        var clock = Stopwatch.StartNew();
        var diagnostics = new Sink(_ => { });
        using var framework = new XunitTestFramework(diagnostics);
        var assemblyInfo = Reflector.Wrap(assembly);
        var cases = new List<ITestCase>();
        using (var discoverer = framework.GetDiscoverer(assemblyInfo))
        {
            using var done = new ManualResetEventSlim();
            var sink = new Sink(message =>
            {
                if (message is ITestCaseDiscoveryMessage found) cases.Add(found.TestCase);
                if (message is IDiscoveryCompleteMessage) done.Set();
            });
            discoverer.Find(includeSourceInformation: false, sink, new Options());
            done.Wait();
        }
        if (filter is not null) cases = cases.Where(c => c.DisplayName.Contains(filter, StringComparison.Ordinal)).ToList();
        Console.WriteLine($"{assembly.GetName().Name}: {cases.Count} test cases");

        int passed = 0, failed = 0, skipped = 0;
        var gate = new object();
        using (var executor = framework.GetExecutor(assembly.GetName()))
        {
            using var done = new ManualResetEventSlim();
            var sink = new Sink(message =>
            {
                lock (gate)
                {
                    switch (message)
                    {
                        case ITestPassed pass:
                            passed++;
                            if (verbose && !string.IsNullOrWhiteSpace(pass.Output)) Console.WriteLine($"  [output] {pass.Test.DisplayName}: {pass.Output.Trim()}");
                            break;
                        case ITestFailed fail:
                            failed++;
                            Console.WriteLine($"[FAIL] {fail.Test.DisplayName} ({fail.ExecutionTime:0.00} s)");
                            Console.WriteLine("  " + string.Join(Environment.NewLine + "  ", fail.Messages).Replace("\n", "\n  ", StringComparison.Ordinal));
                            if (fail.StackTraces.FirstOrDefault() is { } stack) Console.WriteLine("  " + stack.Split('\n').FirstOrDefault()?.Trim());
                            break;
                        case ITestSkipped skip:
                            skipped++;
                            Console.WriteLine($"[SKIP] {skip.Test.DisplayName}: {skip.Reason}");
                            break;
                        case ITestAssemblyFinished:
                            done.Set();
                            break;
                    }
                }
            });
            executor.RunTests(cases, sink, new Options());
            done.Wait();
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{assembly.GetName().Name}: {passed} passed, {failed} failed, {skipped} skipped in {clock.Elapsed.TotalSeconds:0.0} s"));
        return failed == 0 ? 0 : 1;
    }

    /// <summary>A message sink that hands every message to a callback.</summary>
    private sealed class Sink(Action<IMessageSinkMessage> handle) : LongLivedMarshalByRefObject, IMessageSink
    {
        public bool OnMessage(IMessageSinkMessage message)
        {
            handle(message);
            return true;
        }
    }

    /// <summary>Discovery and execution options: every setting at its default.</summary>
    private sealed class Options : ITestFrameworkDiscoveryOptions, ITestFrameworkExecutionOptions
    {
        private readonly Dictionary<string, object?> _values = [];

        public TValue GetValue<TValue>(string name) => _values.TryGetValue(name, out var value) && value is TValue typed ? typed : default!;

        public void SetValue<TValue>(string name, TValue value) => _values[name] = value;
    }
}
