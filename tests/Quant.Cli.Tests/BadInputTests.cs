using System;
using System.IO;
using System.Linq;

namespace Quant.Cli.Tests;

/// <summary>
/// Every failure: the right exit code (2 usage, 3 bad data), exactly one line on stderr with no stack
/// trace, no output file left behind, and an output that existed before left as it was.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private const int K = 64;
    private static readonly byte[] s_sentinel = "existing output, must survive"u8.ToArray();
    private readonly TempDir _temp = new();

    public BadInputTests()
    {
        // A valid 3 x 64 layer, its q4_0, mxfp4 and UQFF forms, and an activation, to break in different ways.
        Raw.WriteFloats(_temp.File("w.f32"), Raw.Gaussian(3 * K, seed: 9));
        Raw.WriteFloats(_temp.File("x.f32"), Raw.Gaussian(K, seed: 10));
        CliRunner.Ok("raw", "quantize", "--format", "q4_0", "--cols", $"{K}", _temp.File("w.f32"), _temp.File("w.q4_0"));
        CliRunner.Ok("raw", "quantize", "--format", "mxfp4", "--cols", $"{K}", _temp.File("w.f32"), _temp.File("w.mxfp4"));
        CliRunner.Ok("raw", "uqff", "--format", "mxfp4", "--cols", $"{K}", _temp.File("w.f32"), _temp.File("w.uqff"));
        byte[] weights = File.ReadAllBytes(_temp.File("w.f32"));
        File.WriteAllBytes(_temp.File("short.f32"), weights[..^4]);
        File.WriteAllBytes(_temp.File("long.f32"), [.. weights, 1, 2]);
        File.WriteAllBytes(_temp.File("empty.f32"), []);
        byte[] q4 = File.ReadAllBytes(_temp.File("w.q4_0"));
        File.WriteAllBytes(_temp.File("short.q4_0"), q4[..^1]);
        File.WriteAllBytes(_temp.File("short.mxfp4"), File.ReadAllBytes(_temp.File("w.mxfp4"))[..^2]);
        byte[] blob = File.ReadAllBytes(_temp.File("w.uqff"));
        File.WriteAllBytes(_temp.File("truncated.uqff"), blob[..(blob.Length / 2)]);
        File.WriteAllBytes(_temp.File("trailing.uqff"), [.. blob, 0]);
        File.WriteAllBytes(_temp.File("badtype.uqff"), [.. blob[..4], 0x42, .. blob[5..]]);
        File.WriteAllBytes(_temp.File("badversion.uqff"), [0x00, 0x00, 0x01, 0x00, .. blob[4..]]);
        File.WriteAllBytes(_temp.File("baddims.uqff"), Corrupt(blob, 6 + 16, 0xFF));
        File.WriteAllBytes(_temp.File("empty.uqff"), []);
        File.WriteAllBytes(_temp.File("x_short.f32"), File.ReadAllBytes(_temp.File("x.f32"))[..^4]);
        File.WriteAllBytes(_temp.File("b_wrong.f32"), new byte[4 * 4]);
    }

    public void Dispose() => _temp.Dispose();

    public static TheoryData<int, string> Failures() => new()
    {
        // Bad data (3): sizes that do not divide, truncated or corrupt blobs, missing inputs.
        { 3, "raw quantize --format q4_0 --cols 64 {short.f32} {out}" },
        { 3, "raw quantize --format q4_0 --cols 64 {long.f32} {out}" },
        { 3, "raw quantize --format q4_0 --cols 64 {empty.f32} {out}" },
        { 3, "raw quantize --format q4_0 --cols 64 {missing.f32} {out}" },
        { 3, "raw dequantize --format q4_0 --cols 64 {short.q4_0} {out}" },
        { 3, "raw dequantize --format q8_0 --cols 64 {w.q4_0} {out}" },
        { 3, "raw dequantize --format mxfp4 --cols 64 {short.mxfp4} {out}" },
        { 3, "raw dequantize --format q4_0 --cols 64 {missing.bin} {out}" },
        { 3, "raw matvec --format q4_0 --cols 64 {short.q4_0} {x.f32} {out}" },
        { 3, "raw matvec --format q4_0 --cols 64 {w.q4_0} {x_short.f32} {out}" },
        { 3, "raw matvec --format q4_0 --cols 64 {w.q4_0} {missing.f32} {out}" },
        { 3, "raw uqff --format q4_0 --cols 64 {short.f32} {out}" },
        { 3, "raw uqff --format q4_0 --cols 64 --bias {b_wrong.f32} {w.f32} {out}" },
        { 3, "raw uqff --unquant f16 --cols 64 --bias {missing.f32} {w.f32} {out}" },
        { 3, "raw quantize --format q4_0 --cols 64 --imatrix {x_short.f32} {w.f32} {out}" },
        { 3, "raw quantize --format q4_0 --cols 64 --imatrix {w.f32} {w.f32} {out}" },
        { 3, "raw quantize --format q4_0 --cols 64 --imatrix {empty.f32} {w.f32} {out}" },
        { 3, "raw quantize --format q4_0 --cols 64 --imatrix {missing.f32} {w.f32} {out}" },
        { 3, "raw uqff --format q4_0 --cols 64 --imatrix {x_short.f32} {w.f32} {out}" },
        { 3, "raw unuqff {truncated.uqff} {out}" },
        { 3, "raw unuqff {trailing.uqff} {out}" },
        { 3, "raw unuqff {badtype.uqff} {out}" },
        { 3, "raw unuqff {badversion.uqff} {out}" },
        { 3, "raw unuqff {baddims.uqff} {out}" },
        { 3, "raw unuqff {empty.uqff} {out}" },
        { 3, "raw unuqff {missing.uqff} {out}" },
        // Usage (2): unknown format or rule, a bad --cols, a bad or missing option, argument or command.
        { 2, "raw quantize --format q4_1x --cols 64 {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 --cols 48 {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 --cols 0 {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 --cols -32 {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 --cols abc {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 {w.f32} {out}" },
        { 2, "raw quantize --cols 64 {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 --cols 64 {w.f32}" },
        { 2, "raw quantize --format q4_0 --cols 64 --rule nope {w.f32} {out}" },
        { 2, "raw quantize --format mxfp4 --cols 64 --rule ggml {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 --cols 64 --threads -1 {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 --cols 64 --frobnicate {w.f32} {out}" },
        { 2, "raw dequantize --format nope --cols 64 {w.q4_0} {out}" },
        { 2, "raw dequantize --format q4_0 --cols 100 {w.q4_0} {out}" },
        { 2, "raw matvec --format q4_0 --cols 64 {w.q4_0} {out}" },
        { 2, "raw uqff --cols 64 {w.f32} {out}" },
        { 2, "raw uqff --format q4_0 --unquant f32 --cols 64 {w.f32} {out}" },
        { 2, "raw uqff --unquant f64 --cols 64 {w.f32} {out}" },
        { 2, "raw uqff --unquant f32 --cols 64 --rule ocp {w.f32} {out}" },
        { 2, "raw uqff --unquant f32 --cols 64 --imatrix {x.f32} {w.f32} {out}" },
        { 2, "raw quantize --format q4_0 --cols 64 --imatrix {w.f32}" },
        { 2, "raw uqff --format q4_0 --cols 40 {w.f32} {out}" },
        { 2, "raw unuqff {w.uqff}" },
        { 2, "raw frobnicate {w.f32} {out}" },
        { 2, "raw" },
        { 2, "" },
        { 2, "demo --rows 0" },
        { 2, "demo --cols -5" },
        { 2, "formats --tsv" },
        // Missing-input and bad-size checks come after the usage checks: a bad --cols wins over a missing file.
        { 2, "raw quantize --format q4_0 --cols 33 {missing.f32} {out}" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Failure_HasExitCodeOneStderrLineAndNoOutputFile(int exitCode, string command)
    {
        string[] before = _temp.FileNames();

        var result = CliRunner.Run(Args(command, "out.bin"));

        Assert.True(result.ExitCode == exitCode, $"quant {command}: expected exit {exitCode}; {result}");
        AssertOneErrorLine(result);
        Assert.Equal(before, _temp.FileNames());
    }

    [Theory]
    [MemberData(nameof(Failures))]
    public void Failure_LeavesAnExistingOutputUntouched(int exitCode, string command)
    {
        if (!command.Contains("{out}", StringComparison.Ordinal)) return;
        File.WriteAllBytes(_temp.File("existing.out"), s_sentinel);
        string[] before = _temp.FileNames();

        var result = CliRunner.Run(Args(command, "existing.out"));

        Assert.Equal(exitCode, result.ExitCode);
        Assert.Equal(s_sentinel, File.ReadAllBytes(_temp.File("existing.out")));
        Assert.Equal(before, _temp.FileNames());
    }

    [Fact]
    public void BadSize_MessageNamesTheFileAndTheSizes()
    {
        var result = CliRunner.Run(Args("raw dequantize --format q4_0 --cols 64 {short.q4_0} {out}", "out.bin"));

        Assert.Equal(3, result.ExitCode);
        string line = Assert.Single(result.ErrLines);
        Assert.Contains("short.q4_0", line, StringComparison.Ordinal);
        Assert.Contains($"{3 * 2 * 18 - 1} bytes", line, StringComparison.Ordinal);
        Assert.Contains("36 bytes", line, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownFormat_MessageListsTheKnownFormats()
    {
        var result = CliRunner.Run(Args("raw quantize --format q4_1x --cols 64 {w.f32} {out}", "out.bin"));

        string line = Assert.Single(result.ErrLines);
        Assert.Contains("q4_1x", line, StringComparison.Ordinal);
        Assert.Contains("q8_0", line, StringComparison.Ordinal);
        Assert.Contains("mxfp4_ggml", line, StringComparison.Ordinal);
    }

    [Fact]
    public void OutputInMissingFolder_FailsWithOneLineAndExitOne()
    {
        var result = CliRunner.Run("raw", "quantize", "--format", "q4_0", "--cols", $"{K}", _temp.File("w.f32"), _temp.File("no/such/folder/out.bin"));

        Assert.Equal(1, result.ExitCode);
        AssertOneErrorLine(result);
        Assert.False(Directory.Exists(_temp.File("no")));
    }

    [Fact]
    public void Help_ExitsZeroAndWritesOnlyStdout()
    {
        var result = CliRunner.Run("raw", "quantize", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Err);
        Assert.Contains("--format", result.Out, StringComparison.Ordinal);
        Assert.Contains("--cols", result.Out, StringComparison.Ordinal);
    }

    private static void AssertOneErrorLine(CliResult result)
    {
        string line = Assert.Single(result.ErrLines);
        Assert.StartsWith("quant: error: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain(" at Quant.", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Err, StringComparison.Ordinal);
        Assert.True(result.Err.Count(c => c == '\n') == 1, $"stderr must be exactly one line: {result.Err}");
    }

    // "{name}" becomes a path in the temp folder; "{out}" the output path given.
    private string[] Args(string command, string output)
        => command.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a == "{out}" ? _temp.File(output) : a.StartsWith('{') ? _temp.File(a[1..^1]) : a)
            .ToArray();

    private static byte[] Corrupt(byte[] blob, int at, byte value)
    {
        var copy = (byte[])blob.Clone();
        copy[at] = value;
        return copy;
    }
}
