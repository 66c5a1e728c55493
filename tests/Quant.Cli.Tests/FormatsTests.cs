using System;
using System.Linq;
using System.Text.Json;

namespace Quant.Cli.Tests;

/// <summary><c>quant formats</c>: the JSON contract, and a plain table when output is not a terminal.</summary>
public sealed class FormatsTests
{
    [Theory]
    // name, block size, bytes per block, GGUF id (-1: none), UQFF layer name and type byte: facts from ggml and DESIGN.md section 7.
    [InlineData("q4_0", 32, 18, 2, "Gguf", 0)]
    [InlineData("q8_0", 32, 34, 8, "Gguf", 0)]
    [InlineData("mxfp4", 32, 17, -1, "Mxfp4", 6)]
    [InlineData("mxfp4_ggml", 32, 17, 39, "Gguf", 0)]
    public void Json_ListsFormatWithItsIdentity(string name, int blockSize, int bytesPerBlock, int ggufType, string uqff, int uqffType)
    {
        var result = CliRunner.Ok("formats", "--json");
        using var json = JsonDocument.Parse(result.Out);

        var format = json.RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        Assert.Equal(blockSize, format.GetProperty("blockSize").GetInt32());
        Assert.Equal(bytesPerBlock, format.GetProperty("bytesPerBlock").GetInt32());
        Assert.Equal(bytesPerBlock * 8.0 / blockSize, format.GetProperty("bitsPerWeight").GetDouble());
        if (ggufType < 0) Assert.Equal(JsonValueKind.Null, format.GetProperty("ggufType").ValueKind);
        else Assert.Equal(ggufType, format.GetProperty("ggufType").GetInt32());
        Assert.Equal(uqff, format.GetProperty("uqff").GetString());
        Assert.Equal(uqffType, format.GetProperty("uqffType").GetInt32());
        var rules = format.GetProperty("rules").EnumerateArray().Select(r => r.GetString()).ToArray();
        Assert.Contains(format.GetProperty("defaultRule").GetString(), rules);
        Assert.False(string.IsNullOrEmpty(format.GetProperty("description").GetString()));
        Assert.NotEmpty(format.GetProperty("planes").EnumerateArray());
    }

    [Fact]
    public void Json_Mxfp4HasBlocksThenScalesPlanesAndBothScaleRules()
    {
        using var json = JsonDocument.Parse(CliRunner.Ok("formats", "--json").Out);
        var mxfp4 = json.RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == "mxfp4");

        Assert.Equal(new[] { "blocks", "scales" }, mxfp4.GetProperty("planes").EnumerateArray().Select(p => p.GetString()));
        var rules = mxfp4.GetProperty("rules").EnumerateArray().Select(r => r.GetString()).ToArray();
        Assert.Contains("ocp", rules);
        Assert.Contains("mistralrs", rules);
    }

    [Fact]
    public void Json_ListsEveryRegisteredFormatOnce()
    {
        using var json = JsonDocument.Parse(CliRunner.Ok("formats", "--json").Out);
        var names = json.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToArray();

        Assert.Equal(names.Distinct().Count(), names.Length);
        Assert.Equal(QuantFormatRegistry.All.Select(e => e.Info.Name).Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Table_WhenRedirected_IsPlainTextWithARowPerFormat()
    {
        var result = CliRunner.Ok("formats");

        Assert.DoesNotContain('\u001b', result.Out);
        Assert.True(result.Out.All(c => c < 128), "a redirected table is ASCII only");
        string[] lines = result.Out.Split('\n');
        foreach (var entry in QuantFormatRegistry.All)
        {
            Assert.Single(lines, l => l.StartsWith($"| {entry.Info.Name} ", StringComparison.Ordinal));
        }
        string q4 = lines.Single(l => l.StartsWith("| q4_0 ", StringComparison.Ordinal));
        Assert.Contains(" 4.5 |", q4, StringComparison.Ordinal);
        Assert.Contains("ggml*", q4, StringComparison.Ordinal);
    }
}
