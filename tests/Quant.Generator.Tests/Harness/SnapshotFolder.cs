using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;

namespace Quant.Generator.Tests.Harness;

/// <summary>What a snapshot comparison found, and what an accepting run changed.</summary>
/// <param name="Problems">One entry per file that does not match (empty when the set matches).</param>
/// <param name="Changes">Files written or deleted by an accepting run.</param>
/// <param name="Refused">True when accepting was asked for and refused (CI); nothing was compared.</param>
internal sealed record SnapshotReport(IReadOnlyList<string> Problems, IReadOnlyList<string> Changes, bool Refused = false)
{
    public bool Passed => Problems.Count == 0;
}

/// <summary>
/// Our own snapshot helper (Verify is not available here). A folder holds one verified file per
/// generated source; the whole set is compared: each generated file against its snapshot (line endings
/// normalised to <c>\n</c>), a generated file without a snapshot fails, and a snapshot without a generated
/// file (an orphan) fails. On a mismatch the new output is written beside the snapshot as
/// <c>X.g.received.cs</c> (git ignores <c>*.received.*</c>) and the failure shows a diff excerpt.
/// <para>
/// <c>QUANT_ACCEPT_SNAPSHOTS=1</c> rewrites the folder instead: creates missing snapshots, updates changed
/// ones and deletes orphans; the check then passes. When <c>CI=true</c> accepting is refused, so a CI run
/// can never bless its own output.
/// </para>
/// </summary>
internal sealed class SnapshotFolder(string directory, Func<string, string?> environment)
{
    public const string AcceptVariable = "QUANT_ACCEPT_SNAPSHOTS";
    private const string SnapshotSuffix = ".g.cs";
    private const int ExcerptLines = 12;

    /// <summary>The repository's <c>snapshots/</c> folder, switched by the process environment.</summary>
    public static SnapshotFolder ForRepository() => new(Repository.SnapshotDirectory, Environment.GetEnvironmentVariable);

    public string Directory => directory;

    /// <summary>
    /// Maps generator hint names (<c>Namespace.Class.Target.g.cs</c>) to snapshot names
    /// (<c>Class.Target.g.cs</c>), failing when two sources would share one snapshot.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ByClassAndTarget(IReadOnlyDictionary<string, string> sources)
    {
        var named = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (hint, text) in sources)
        {
            string[] parts = hint.Split('.');
            Assert.True(parts.Length >= 4 && hint.EndsWith(SnapshotSuffix, StringComparison.Ordinal), $"Hint name '{hint}' is not Namespace.Class.Target.g.cs.");
            string name = string.Join(".", parts.Skip(parts.Length - 4));
            Assert.False(named.ContainsKey(name), $"Two generated sources map to the snapshot '{name}'; snapshot names must be unique.");
            named.Add(name, text);
        }
        return named;
    }

    /// <summary>Compares (or, when accepting, rewrites) the snapshots and fails the test on any problem.</summary>
    public void Verify(IReadOnlyDictionary<string, string> generated)
    {
        var report = Compare(generated);
        if (!report.Passed)
        {
            Assert.Fail(report.Refused
                ? report.Problems[0]
                : $"{report.Problems.Count} generated file(s) do not match the snapshots in {directory}:\n" + string.Join("\n", report.Problems));
        }
    }

    /// <summary>Compares the set of generated files (snapshot name to text) with the folder.</summary>
    public SnapshotReport Compare(IReadOnlyDictionary<string, string> generated)
    {
        foreach (string name in generated.Keys)
        {
            if (!name.EndsWith(SnapshotSuffix, StringComparison.Ordinal) || name.IndexOfAny(['/', '\\']) >= 0)
            {
                throw new ArgumentException($"Snapshot name '{name}' must be a file name ending in {SnapshotSuffix}.", nameof(generated));
            }
        }

        bool accept = environment(AcceptVariable) is "1" || string.Equals(environment(AcceptVariable), "true", StringComparison.OrdinalIgnoreCase);
        bool ci = string.Equals(environment("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (accept && ci)
        {
            return new SnapshotReport(
                [$"{AcceptVariable}=1 is refused when CI=true: accept snapshots on a developer machine, review them and commit them. Nothing in {directory} was changed."],
                [],
                Refused: true);
        }

        var problems = new List<string>();
        var changes = new List<string>();
        var existing = System.IO.Directory.Exists(directory)
            ? System.IO.Directory.GetFiles(directory, "*" + SnapshotSuffix).Select(Path.GetFileName).OfType<string>().ToHashSet(StringComparer.Ordinal)
            : [];
        if (accept) System.IO.Directory.CreateDirectory(directory);

        foreach (var (name, text) in generated.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            string received = Normalise(text);
            string snapshotPath = Path.Combine(directory, name);
            string receivedPath = ReceivedPath(name);
            // Accepting settles every file, so an old .received.cs would only mislead.
            if (accept) File.Delete(receivedPath);
            if (!existing.Contains(name))
            {
                if (accept)
                {
                    Write(snapshotPath, received);
                    changes.Add($"created {name}");
                }
                else
                {
                    System.IO.Directory.CreateDirectory(directory);
                    Write(receivedPath, received);
                    problems.Add($"{name}: no snapshot. The output was written to {receivedPath}; review it and run with {AcceptVariable}=1 to accept it.");
                }
                continue;
            }

            string verified = Normalise(File.ReadAllText(snapshotPath));
            if (verified == received)
            {
                File.Delete(receivedPath);
                continue;
            }
            if (accept)
            {
                Write(snapshotPath, received);
                changes.Add($"updated {name}");
                continue;
            }
            Write(receivedPath, received);
            var diff = LineDiff.Compute(verified, received);
            problems.Add($"{name}: differs from its snapshot in {diff.Count} line(s). The output was written to {receivedPath}.\n" + LineDiff.Excerpt(diff, ExcerptLines).TrimEnd('\n'));
        }

        foreach (string orphan in existing.Where(name => !generated.ContainsKey(name)).OrderBy(name => name, StringComparer.Ordinal))
        {
            if (accept)
            {
                File.Delete(Path.Combine(directory, orphan));
                File.Delete(ReceivedPath(orphan));
                changes.Add($"deleted {orphan}");
            }
            else
            {
                problems.Add($"{orphan}: orphan snapshot, no generated file has this name. Delete it, or run with {AcceptVariable}=1 to delete it.");
            }
        }
        return new SnapshotReport(problems, changes);
    }

    /// <summary>The file that a mismatching output is written to: <c>X.g.cs</c> gets <c>X.g.received.cs</c>.</summary>
    public string ReceivedPath(string name) => Path.Combine(directory, name.Substring(0, name.Length - ".cs".Length) + ".received.cs");

    private static string Normalise(string text) => text.Replace("\r\n", "\n").Replace('\r', '\n');

    private static void Write(string path, string text) => File.WriteAllText(path, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
}
