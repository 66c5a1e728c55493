using System;
using System.IO;
using Quant.Generator.Tests.Harness;

namespace Quant.Generator.Tests;

/// <summary>
/// The NuGet sample (<c>samples/CustomFormat</c>) declares a format of its own and keeps the sources the
/// generator writes for it in <c>samples/CustomFormat/snapshots</c>. tests/sample.sh builds the sample against
/// the packed packages and compares what the generator wrote inside that build with these files; this test
/// keeps them what the generator emits for the sample's declaration (<c>QUANT_ACCEPT_SNAPSHOTS=1</c> updates them).
/// </summary>
public sealed class SampleSnapshotTests
{
    private static string SampleDirectory => Path.Combine(Repository.Root, "samples", "CustomFormat");

    [Fact]
    public void SampleFormat_GeneratesCompilingCodeThatMatchesTheSampleSnapshots()
    {
        const string declaration = "Q3Affine.cs";
        var run = GeneratorHarness.Run(new SourceInput("samples/CustomFormat/" + declaration, File.ReadAllText(Path.Combine(SampleDirectory, declaration))));

        run.AssertNoGeneratorDiagnostics();
        run.AssertOutputCompiles();
        Assert.Equal(["CustomFormat.Q3Affine.Cpu.g.cs", "CustomFormat.Q3Affine.Layout.g.cs", "CustomFormat.Q3Affine.Registration.g.cs", "CustomFormat.Q3Affine.Uqff.g.cs"], run.Sources.Keys);
        new SnapshotFolder(Path.Combine(SampleDirectory, "snapshots"), Environment.GetEnvironmentVariable)
            .Verify(SnapshotFolder.ByClassAndTarget(run.Sources));
    }
}
