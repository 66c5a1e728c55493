using System;
using System.Diagnostics;
using System.IO;
using System.Text;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>
/// The node scripts under tests/tools (@huggingface/gguf and node-llama-cpp, installed there by .ci/run). Locally a test that needs them is skipped with the reason when they are
/// missing; under <c>CI=true</c> it runs and fails instead, since CI installs them.
/// </summary>
internal static class NodeTools
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Quant.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} holds Quant.sln.");
    });

    /// <summary>tests/tools.</summary>
    public static string Folder => Path.Combine(s_root.Value, "tests", "tools");

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why the tools cannot run here, or null when they can.</summary>
    public static string? MissingReason { get; } = FindMissing();

    private static string? FindMissing()
    {
        string modules = Path.Combine(Folder, "node_modules");
        foreach (var package in new[] { "@huggingface/gguf", "node-llama-cpp", "@node-llama-cpp/linux-x64" })
        {
            if (!Directory.Exists(Path.Combine(modules, package)))
            {
                return $"{package} is not installed in {modules} (install them as .ci/run does: cd tests/tools && npm install --omit=optional --ignore-scripts --no-save)";
            }
        }
        return FindNode() is null ? "node is not on PATH" : null;
    }

    private static string? FindNode()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "node");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Fails the test (under CI) when the tools are missing; a skipped test never gets here.</summary>
    public static void Require()
    {
        if (MissingReason is not null) Assert.Fail($"CI=true and the node tools are missing: {MissingReason}.");
    }

    /// <summary>Runs <c>node SCRIPT args</c> in tests/tools as a child process (llama.cpp may abort it) and returns its exit code and output.</summary>
    public static (int ExitCode, string Out, string Err) Run(string script, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(FindNode() ?? "node")
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(Folder, script));
        foreach (var a in args) start.ArgumentList.Add(a);
        // node-llama-cpp must use the prebuilt CPU binary it was installed with: never download or build.
        start.Environment["NODE_LLAMA_CPP_SKIP_DOWNLOAD"] = "true";
        start.Environment["NODE_LLAMA_CPP_GPU"] = "false";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"node {script} did not finish in {timeout.TotalSeconds} s; stderr: {stderr}");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.ToString(), stderr.ToString());
    }
}

/// <summary>A fact that needs the node tools: skipped with the reason when they are missing, unless CI=true (then it runs and fails).</summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (NodeTools.MissingReason is not null && !NodeTools.IsCi) Skip = NodeTools.MissingReason;
    }
}
