using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Quant.Generator.Tests.Harness;

namespace Quant.Generator.Tests;

/// <summary>The snapshot helper guards every generated file, so it gets tests of its own, on a scratch folder.</summary>
public sealed class SnapshotHelperTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "quant-snapshots-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, string?> _environment = new(StringComparer.Ordinal);

    public SnapshotHelperTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private SnapshotFolder Folder => new(_directory, name => _environment.GetValueOrDefault(name));

    private string PathOf(string name) => Path.Combine(_directory, name);

    private void WriteSnapshot(string name, string text) => File.WriteAllText(PathOf(name), text);

    [Fact]
    public void MatchingSet_Passes_AndRemovesAStaleReceivedFile()
    {
        WriteSnapshot("A.Cpu.g.cs", "line 1\nline 2\n");
        File.WriteAllText(PathOf("A.Cpu.g.received.cs"), "old output");

        var report = Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = "line 1\nline 2\n" });

        Assert.True(report.Passed, string.Join("\n", report.Problems));
        Assert.False(File.Exists(PathOf("A.Cpu.g.received.cs")));
    }

    [Fact]
    public void LineEndings_AreNormalisedBeforeComparing()
    {
        WriteSnapshot("A.Cpu.g.cs", "line 1\r\nline 2\r\n");

        var report = Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = "line 1\nline 2\n" });

        Assert.True(report.Passed, string.Join("\n", report.Problems));
    }

    [Fact]
    public void ChangedFile_Fails_WritesReceivedFile_AndShowsTheDifferingLines()
    {
        WriteSnapshot("A.Cpu.g.cs", "one\ntwo\nthree\nfour\n");

        var report = Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = "one\ntwo\ninserted\nthree\nFOUR\n" });

        string problem = Assert.Single(report.Problems);
        // One inserted line and one changed line (removed + added): three differing lines, not "everything after line 3".
        Assert.Contains("A.Cpu.g.cs: differs from its snapshot in 3 line(s)", problem, StringComparison.Ordinal);
        Assert.Contains("+ received     3: inserted", problem, StringComparison.Ordinal);
        Assert.Contains("- snapshot     4: four", problem, StringComparison.Ordinal);
        Assert.Contains("+ received     5: FOUR", problem, StringComparison.Ordinal);
        Assert.Equal("one\ntwo\ninserted\nthree\nFOUR\n", File.ReadAllText(PathOf("A.Cpu.g.received.cs")));
        Assert.Equal("one\ntwo\nthree\nfour\n", File.ReadAllText(PathOf("A.Cpu.g.cs")));
    }

    [Fact]
    public void LongDiff_ShowsAnExcerpt_AndTheTotalCount()
    {
        WriteSnapshot("A.Cpu.g.cs", string.Join("\n", Lines("old", 40)));

        var report = Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = string.Join("\n", Lines("new", 40)) });

        string problem = Assert.Single(report.Problems);
        Assert.Contains("in 80 line(s)", problem, StringComparison.Ordinal);
        Assert.Contains("... and 68 more differing lines", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingSnapshot_Fails_AndWritesReceivedFile()
    {
        var report = Folder.Compare(new Dictionary<string, string> { ["New.Layout.g.cs"] = "text\n" });

        string problem = Assert.Single(report.Problems);
        Assert.StartsWith("New.Layout.g.cs: no snapshot.", problem, StringComparison.Ordinal);
        Assert.True(File.Exists(PathOf("New.Layout.g.received.cs")));
        Assert.False(File.Exists(PathOf("New.Layout.g.cs")));
    }

    [Fact]
    public void OrphanSnapshot_Fails()
    {
        WriteSnapshot("A.Cpu.g.cs", "text\n");
        WriteSnapshot("Gone.Cpu.g.cs", "text\n");

        var report = Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = "text\n" });

        string problem = Assert.Single(report.Problems);
        Assert.StartsWith("Gone.Cpu.g.cs: orphan snapshot", problem, StringComparison.Ordinal);
        Assert.True(File.Exists(PathOf("Gone.Cpu.g.cs")));
    }

    [Fact]
    public void ReceivedFiles_AreNotTakenForSnapshots()
    {
        WriteSnapshot("A.Cpu.g.cs", "text\n");
        File.WriteAllText(PathOf("B.Cpu.g.received.cs"), "leftover");

        var report = Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = "text\n" });

        Assert.True(report.Passed, string.Join("\n", report.Problems));
    }

    [Fact]
    public void Accept_CreatesMissing_UpdatesChanged_DeletesOrphans_AndPasses()
    {
        _environment[SnapshotFolder.AcceptVariable] = "1";
        WriteSnapshot("Changed.Cpu.g.cs", "old\n");
        WriteSnapshot("Same.Cpu.g.cs", "same\n");
        WriteSnapshot("Orphan.Cpu.g.cs", "orphan\n");
        File.WriteAllText(PathOf("Changed.Cpu.g.received.cs"), "old received");

        var report = Folder.Compare(new Dictionary<string, string>
        {
            ["Changed.Cpu.g.cs"] = "new\r\n",
            ["Same.Cpu.g.cs"] = "same\n",
            ["Created.Cpu.g.cs"] = "created\n",
        });

        Assert.True(report.Passed, string.Join("\n", report.Problems));
        Assert.Equal(["updated Changed.Cpu.g.cs", "created Created.Cpu.g.cs", "deleted Orphan.Cpu.g.cs"], report.Changes);
        Assert.Equal("new\n", File.ReadAllText(PathOf("Changed.Cpu.g.cs")));
        Assert.Equal("created\n", File.ReadAllText(PathOf("Created.Cpu.g.cs")));
        Assert.False(File.Exists(PathOf("Orphan.Cpu.g.cs")));
        Assert.False(File.Exists(PathOf("Changed.Cpu.g.received.cs")));
    }

    [Theory]
    [InlineData("true")]
    [InlineData("True")]
    public void Accept_IsRefusedWhenCiIsTrue_AndChangesNothing(string ci)
    {
        _environment[SnapshotFolder.AcceptVariable] = "1";
        _environment["CI"] = ci;
        WriteSnapshot("A.Cpu.g.cs", "old\n");

        var report = Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = "new\n", ["B.Cpu.g.cs"] = "new\n" });

        Assert.True(report.Refused);
        string problem = Assert.Single(report.Problems);
        Assert.Contains("refused when CI=true", problem, StringComparison.Ordinal);
        Assert.Equal("old\n", File.ReadAllText(PathOf("A.Cpu.g.cs")));
        Assert.Equal(["A.Cpu.g.cs"], Directory.GetFiles(_directory).Select(Path.GetFileName));
    }

    [Fact]
    public void Ci_WithoutAccept_StillVerifies()
    {
        _environment["CI"] = "true";
        WriteSnapshot("A.Cpu.g.cs", "same\n");

        Assert.True(Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = "same\n" }).Passed);
        Assert.False(Folder.Compare(new Dictionary<string, string> { ["A.Cpu.g.cs"] = "other\n" }).Passed);
    }

    [Fact]
    public void HintNames_MapToClassAndTarget_WithoutTheNamespace()
    {
        var named = SnapshotFolder.ByClassAndTarget(new Dictionary<string, string>
        {
            ["Quant.Kernels.Q4_0.Cpu.g.cs"] = "a",
            ["Q8_0.Layout.g.cs"] = "b",
        });

        Assert.Equal(["Q4_0.Cpu.g.cs", "Q8_0.Layout.g.cs"], named.Keys);
    }

    [Fact]
    public void HintNames_ThatWouldShareASnapshot_Fail()
    {
        var clash = new Dictionary<string, string> { ["A.Q4_0.Cpu.g.cs"] = "a", ["B.Q4_0.Cpu.g.cs"] = "b" };

        Assert.ThrowsAny<Exception>(() => SnapshotFolder.ByClassAndTarget(clash));
    }

    private static IEnumerable<string> Lines(string prefix, int count)
    {
        for (int i = 0; i < count; i++) yield return $"{prefix} {i}";
    }
}
