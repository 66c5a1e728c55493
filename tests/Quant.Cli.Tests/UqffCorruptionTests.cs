using System;
using System.IO;

namespace Quant.Cli.Tests;

/// <summary>
/// <c>quant raw unuqff</c> on every truncation and every single-byte corruption of a small blob of each
/// layer type: the command either still succeeds (a flipped data byte is still a valid blob) or fails
/// with exit 3 and one stderr line; it never crashes with an internal error or leaves a file behind.
/// </summary>
public sealed class UqffCorruptionTests
{
    [Theory]
    [InlineData("--format", "q4_0", false)]
    [InlineData("--format", "mxfp4_ggml", true)]
    [InlineData("--format", "mxfp4", false)]
    [InlineData("--format", "mxfp4", true)]
    [InlineData("--unquant", "bf16", true)]
    [InlineData("--unquant", "f32", false)]
    public void EveryTruncation_IsBadData(string kind, string value, bool withBias)
    {
        using var temp = new TempDir();
        byte[] blob = MakeBlob(temp, kind, value, withBias, rows: 3, k: 64);

        for (int length = 0; length < blob.Length; length++)
        {
            File.WriteAllBytes(temp.File("cut.uqff"), blob[..length]);
            var result = CliRunner.Run("raw", "unuqff", temp.File("cut.uqff"), temp.File("out.f32"));
            Assert.True(result.ExitCode == 3 && result.ErrLines.Length == 1, $"blob cut to {length} of {blob.Length} bytes: {result}");
            Assert.False(File.Exists(temp.File("out.f32")));
        }
    }

    [Theory]
    [InlineData("--format", "q8_0", true)]
    [InlineData("--format", "mxfp4", true)]
    [InlineData("--unquant", "f16", true)]
    public void EveryFlippedByte_IsBadDataOrStillValid(string kind, string value, bool withBias)
    {
        using var temp = new TempDir();
        // One row of one block keeps the blob small: every successful run writes (and syncs) an output file.
        byte[] blob = MakeBlob(temp, kind, value, withBias, rows: 1, k: 32);

        for (int at = 0; at < blob.Length; at++)
        {
            foreach (byte mask in new byte[] { 0x01, 0xFF })
            {
                byte[] corrupt = (byte[])blob.Clone();
                corrupt[at] ^= mask;
                File.WriteAllBytes(temp.File("bad.uqff"), corrupt);
                File.Delete(temp.File("out.f32"));
                var result = CliRunner.Run("raw", "unuqff", temp.File("bad.uqff"), temp.File("out.f32"));
                bool ok = result.ExitCode == 0 && result.Err.Length == 0 && File.Exists(temp.File("out.f32"));
                bool bad = result.ExitCode == 3 && result.ErrLines.Length == 1 && !File.Exists(temp.File("out.f32"));
                Assert.True(ok || bad, $"byte {at} ^ 0x{mask:X2}: {result}");
            }
        }
    }

    private static byte[] MakeBlob(TempDir temp, string kind, string value, bool withBias, int rows, int k)
    {
        Raw.WriteFloats(temp.File("w.f32"), Raw.Gaussian(rows * k, seed: 11));
        Raw.WriteFloats(temp.File("b.f32"), Raw.Gaussian(rows, seed: 12));
        string[] bias = withBias ? ["--bias", temp.File("b.f32")] : [];
        CliRunner.Ok(["raw", "uqff", kind, value, "--cols", $"{k}", .. bias, temp.File("w.f32"), temp.File("layer.uqff")]);
        return File.ReadAllBytes(temp.File("layer.uqff"));
    }
}
