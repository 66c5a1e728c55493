using System;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Quant.Generator.Tests.Harness;

namespace Quant.Generator.Tests;

/// <summary>
/// One test per diagnostic a declaration can trigger (QG0001 to QG0022). Each checks the ID, that the
/// message names the format and says what is wrong, that the location is the offending attribute or
/// the class name in the declaration's file, that nothing is generated for the invalid format while a
/// valid format beside it still is, and (through the harness) that the generator did not throw.
/// QG9999, the internal error, has no test: only a generator bug can reach it.
/// </summary>
public sealed class DiagnosticsTests
{
    private const string FilePath = "Declarations.cs";

    // Written beside every invalid declaration: it must still generate its three files.
    private const string ValidFormat = """
        [QuantFormat("valid")]
        [Block(32)]
        [Scale(ScaleCode.F16)]
        [Codes(4, Packing = Packing.Sliced)]
        [Integer(Offset = 8)]
        [QuantRule("ggml", ScaleRule.SignedMax)]
        public static partial class Valid;
        """;

    // ---- QG0001 ------------------------------------------------------------------------------

    [Theory]
    [InlineData("public partial class Bad", "must be a 'static partial class'")]
    [InlineData("public static class Bad", "must be a 'static partial class'")]
    [InlineData("internal abstract partial class Bad", "must be a 'static partial class'")]
    [InlineData("public static partial class Bad<T>", "must be a 'static partial class' without type parameters")]
    public void QG0001_ClassThatIsNotStaticPartialOrIsGeneric_IsReported(string declaration, string problem)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(8)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            {{declaration}} { }
            """);

        AssertReported(run, "QG0001", "Tests.Bad", at: "Bad", "'Bad'", problem);
    }

    [Fact]
    public void QG0001_FormatInsideATypeThatIsNotPartial_IsReported()
    {
        var run = Run("""
            public static class Outer
            {
                [QuantFormat("bad")]
                [Block(32)]
                [Scale(ScaleCode.F16)]
                [Codes(8)]
                [Integer(Signed = true)]
                [QuantRule("ggml", ScaleRule.AbsMax)]
                public static partial class Bad;
            }
            """);

        AssertReported(run, "QG0001", "Tests.Outer.Bad", at: "Bad", "'Bad'", "inside partial types only");
    }

    [Fact]
    public void QG0001_RecordDeclaration_IsReported()
    {
        // [QuantFormat] may sit on any class, and a record is one; the generator must say it cannot use it.
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(8)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public partial record Bad;
            """);

        AssertReported(run, "QG0001", "Tests.Bad", at: "Bad", "'Bad'", "must be a 'static partial class'");
    }

    // ---- QG0002 ------------------------------------------------------------------------------

    [Theory]
    [InlineData("Q4_0")]
    [InlineData("4bit")]
    [InlineData("q4-0")]
    [InlineData("")]
    [InlineData("a_name_of_thirty_three_characters")]
    public void QG0002_InvalidFormatName_IsReported(string name)
    {
        var run = Run($$"""
            [QuantFormat("{{name}}")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(8)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0002", "Tests.Bad", at: $"QuantFormat(\"{name}\")", $"Format name '{name}' is not valid", "starting with a lower-case letter");
    }

    // ---- QG0003 ------------------------------------------------------------------------------

    [Fact]
    public void QG0003_FormatWithoutBlock_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Scale(ScaleCode.F16)]
            [Codes(8)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0003", "Tests.Bad", at: "QuantFormat(\"bad\")", "Format 'bad' needs a [Block(n)]");
    }

    // ---- QG0004 ------------------------------------------------------------------------------

    [Theory]
    [InlineData("Block(0)", "a block holds 1 to 4096 elements; it says 0")]
    [InlineData("Block(8192)", "a block holds 1 to 4096 elements; it says 8192")]
    [InlineData("Block(64, SubBlock = 48)", "the sub-block size 48 must divide the block size 64")]
    [InlineData("Block(64, SubBlock = 64)", "into at least two sub-blocks")]
    [InlineData("Block(32, Rows = 0)", "Rows must be at least 1; it says 0")]
    public void QG0004_InvalidBlockShape_IsReported(string block, string problem)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [{{block}}]
            [Scale(ScaleCode.F16)]
            [Codes(8)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0004", "Tests.Bad", at: block, "The block shape of format 'bad' does not work", problem);
    }

    [Fact]
    public void QG0004_SubScalesWithoutSubBlocks_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(256)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced, Stride = 32)]
            [SubScales(6)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0004", "Tests.Bad", at: "SubScales(6)", "format 'bad'", "[SubScales] needs [Block(n, SubBlock = m)]");
    }

    // ---- QG0005 ------------------------------------------------------------------------------

    [Theory]
    [InlineData("Codes(9)", 9)]
    [InlineData("Codes(0)", 0)]
    public void QG0005_CodesWithBitsOutOfRange_IsReported(string codes, int bits)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [{{codes}}]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0005", "Tests.Bad", at: codes, $"[Codes] of format 'bad' has {bits} bits", "1 to 8 bits");
    }

    [Fact]
    public void QG0005_CodesAndHighBitsOverEightBits_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced)]
            [HighBits(5)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0005", "Tests.Bad", at: "QuantFormat(\"bad\")", "[Codes + HighBits] of format 'bad' has 9 bits", "a whole code at most 8");
    }

    // ---- QG0006 ------------------------------------------------------------------------------

    [Fact]
    public void QG0006_CodebookWithWrongLength_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.E8M0)]
            [Codes(4)]
            [Codebook(0f, 1f, 2f)]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0006", "Tests.Bad", at: "Codebook(0f, 1f, 2f)", "The codebook of format 'bad' has 3 entries, but 4-bit codes need exactly 16");
    }

    // ---- QG0007 ------------------------------------------------------------------------------

    [Fact]
    public void QG0007_IntegerCodesWithoutScale_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Codes(4, Packing = Packing.Sliced)]
            [Integer(Offset = 8)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0007", "Tests.Bad", at: "QuantFormat(\"bad\")", "Format 'bad' has integer element codes but no [Scale]");
    }

    [Fact]
    public void QG0007_CodebookWithoutScale_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Codes(2)]
            [Codebook(0f, 1f, -1f, 2f)]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0007", "Tests.Bad", at: "QuantFormat(\"bad\")", "Format 'bad' has codebook element codes but no [Scale]");
    }

    // ---- QG0008 ------------------------------------------------------------------------------

    [Fact]
    public void QG0008_FormatWithoutCodes_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0008", "Tests.Bad", at: "QuantFormat(\"bad\")", "Format 'bad' has no [Codes] attribute");
    }

    // ---- QG0009 to QG0011: clashes between two valid declarations ---------------------------------

    private const string TwoFormatsNamedDup = """
        [QuantFormat("dup")]
        [Block(32)]
        [Scale(ScaleCode.F16)]
        [Codes(8)]
        [Integer(Signed = true)]
        [QuantRule("ggml", ScaleRule.AbsMax)]
        public static partial class DupA;

        [QuantFormat("dup")]
        [Block(32)]
        [Scale(ScaleCode.F16)]
        [Codes(4, Packing = Packing.Sliced)]
        [Integer(Offset = 8)]
        [QuantRule("ggml", ScaleRule.SignedMax)]
        public static partial class DupB;
        """;

    private const string TwoMxfp4Layers = """
        [QuantFormat("mx_a", Uqff = UqffLayer.Mxfp4)]
        [Block(32)]
        [Codes(4)]
        [Minifloat(2, 1)]
        [Scale(ScaleCode.E8M0, Plane = "scales")]
        [QuantRule("ocp", ScaleRule.SharedExponent)]
        public static partial class MxA;

        [QuantFormat("mx_b", Uqff = UqffLayer.Mxfp4)]
        [Block(32)]
        [Codes(4)]
        [Minifloat(2, 1)]
        [Scale(ScaleCode.E8M0, Plane = "scales")]
        [QuantRule("mistralrs", ScaleRule.SharedExponentMistralRs)]
        public static partial class MxB;
        """;

    private const string TwoFormatsWithGgufTypeTwo = """
        [QuantFormat("gguf_a", Uqff = UqffLayer.Gguf, GgufType = 2)]
        [Block(32)]
        [Scale(ScaleCode.F16)]
        [Codes(4, Packing = Packing.Sliced)]
        [Integer(Offset = 8)]
        [QuantRule("ggml", ScaleRule.SignedMax)]
        public static partial class GgufA;

        [QuantFormat("gguf_b", GgufType = 2)]
        [Block(32)]
        [Scale(ScaleCode.F16)]
        [Codes(8)]
        [Integer(Signed = true)]
        [QuantRule("ggml", ScaleRule.AbsMax)]
        public static partial class GgufB;
        """;

    [Fact]
    public void QG0009_TwoFormatsWithOneName_IsReportedAtTheDeclarations()
    {
        var run = Run(TwoFormatsNamedDup);

        var diagnostic = AssertDiagnostic(run, "QG0009", "Formats 'Tests.DupA' and 'Tests.DupB' are both named 'dup'");
        AssertLocatedAt(run, diagnostic, "QuantFormat(\"dup\")", "DupA", "DupB");
    }

    [Fact]
    public void QG0009_TwoFormatsWithOneName_GenerateNothingForEither()
    {
        var run = Run(TwoFormatsNamedDup);

        AssertDiagnostic(run, "QG0009", "'dup'");
        AssertNothingGeneratedFor(run, "Tests.DupA");
        AssertNothingGeneratedFor(run, "Tests.DupB");
        AssertValidFormatGenerated(run);
    }

    [Fact]
    public void QG0010_TwoFormatsWithOneSingleFormatUqffLayer_IsReportedAtTheDeclarations()
    {
        var run = Run(TwoMxfp4Layers);

        var diagnostic = AssertDiagnostic(run, "QG0010", "Formats 'Tests.MxA' and 'Tests.MxB' are both written as UQFF layer type Mxfp4");
        AssertLocatedAt(run, diagnostic, "QuantFormat(\"mx_a\", Uqff = UqffLayer.Mxfp4)", "QuantFormat(\"mx_b\", Uqff = UqffLayer.Mxfp4)", "MxA", "MxB");
    }

    [Fact]
    public void QG0010_TwoFormatsWithOneSingleFormatUqffLayer_GenerateNothingForEither()
    {
        var run = Run(TwoMxfp4Layers);

        AssertDiagnostic(run, "QG0010", "Mxfp4");
        AssertNothingGeneratedFor(run, "Tests.MxA");
        AssertNothingGeneratedFor(run, "Tests.MxB");
        AssertValidFormatGenerated(run);
    }

    [Fact]
    public void QG0010_HqqLayersClashOnlyWhenBitsAndGroupSizeAgree()
    {
        // Hqq layers carry their bits and group size: 4-bit groups of 64 clash, a 4-bit format in groups of 32 does not.
        var run = Run("""
            [QuantFormat("hqq_a", Uqff = UqffLayer.Hqq)]
            [Block(64)]
            [Codes(4)]
            [Integer]
            [Scale(ScaleCode.F32, Plane = "scales")]
            [Min(ScaleCode.F32, Mode = MinMode.ZeroPoint, Plane = "zeros")]
            [QuantRule("hqq", ScaleRule.HalfQuadratic)]
            public static partial class HqqA;

            [QuantFormat("hqq_b", Uqff = UqffLayer.Hqq)]
            [Block(64)]
            [Codes(4)]
            [Integer]
            [Scale(ScaleCode.F32, Plane = "scales")]
            [Min(ScaleCode.F32, Mode = MinMode.ZeroPoint, Plane = "zeros")]
            [QuantRule("hqq", ScaleRule.HalfQuadratic)]
            public static partial class HqqB;

            [QuantFormat("hqq_c", Uqff = UqffLayer.Hqq)]
            [Block(32)]
            [Codes(4)]
            [Integer]
            [Scale(ScaleCode.F32, Plane = "scales")]
            [Min(ScaleCode.F32, Mode = MinMode.ZeroPoint, Plane = "zeros")]
            [QuantRule("hqq", ScaleRule.HalfQuadratic)]
            public static partial class HqqC;
            """);

        var diagnostic = AssertDiagnostic(run, "QG0010", "Formats 'Tests.HqqA' and 'Tests.HqqB' are both written as UQFF layer type Hqq with 4-bit codes in groups of 64");
        AssertLocatedAt(run, diagnostic, "QuantFormat(\"hqq_a\", Uqff = UqffLayer.Hqq)", "QuantFormat(\"hqq_b\", Uqff = UqffLayer.Hqq)", "HqqA", "HqqB");
        Assert.DoesNotContain(run.GeneratorDiagnostics, d => d.GetMessage(CultureInfo.InvariantCulture).Contains("HqqC", StringComparison.Ordinal));
        Assert.Equal(4, run.SourcesOf("Tests.HqqC").Count);
    }

    [Fact]
    public void QG0010_GgufLayersOfSeveralFormats_AreNotAClash()
    {
        // Gguf layers carry their ggml type, so many formats share UQFF layer type 0.
        var run = Run("""
            [QuantFormat("gguf_a", Uqff = UqffLayer.Gguf, GgufType = 2)]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced)]
            [Integer(Offset = 8)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class GgufA;

            [QuantFormat("gguf_b", Uqff = UqffLayer.Gguf, GgufType = 8)]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(8)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public static partial class GgufB;
            """);

        run.AssertNoGeneratorDiagnostics();
        Assert.Equal(4, run.SourcesOf("Tests.GgufA").Count);
        Assert.Equal(4, run.SourcesOf("Tests.GgufB").Count);
    }

    [Fact]
    public void QG0011_TwoFormatsWithOneGgufType_IsReportedAtTheDeclarations()
    {
        var run = Run(TwoFormatsWithGgufTypeTwo);

        var diagnostic = AssertDiagnostic(run, "QG0011", "Formats 'Tests.GgufA' and 'Tests.GgufB' both claim GGUF type id 2");
        AssertLocatedAt(run, diagnostic, "QuantFormat(\"gguf_a\", Uqff = UqffLayer.Gguf, GgufType = 2)", "QuantFormat(\"gguf_b\", GgufType = 2)", "GgufA", "GgufB");
    }

    [Fact]
    public void QG0011_TwoFormatsWithOneGgufType_GenerateNothingForEither()
    {
        var run = Run(TwoFormatsWithGgufTypeTwo);

        AssertDiagnostic(run, "QG0011", "GGUF type id 2");
        AssertNothingGeneratedFor(run, "Tests.GgufA");
        AssertNothingGeneratedFor(run, "Tests.GgufB");
        AssertValidFormatGenerated(run);
    }

    // ---- QG0012 ------------------------------------------------------------------------------

    [Fact]
    public void QG0012_TwoElementCodes_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.E8M0)]
            [Codes(4)]
            [Integer(Offset = 8)]
            [Minifloat(2, 1)]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0012", "Tests.Bad", at: "Minifloat(2, 1)", "Format 'bad' declares [Integer] and [Minifloat]", "one of [Integer], [Codebook] or [Minifloat]");
    }

    // ---- QG0013 ------------------------------------------------------------------------------

    [Fact]
    public void QG0013_NoRule_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced)]
            [Integer(Offset = 8)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0013", "Tests.Bad", at: "QuantFormat(\"bad\")", "The quantization rules of format 'bad' do not work", "declare at least one [QuantRule");
    }

    [Theory]
    [InlineData("[QuantRule(\"ggml\", ScaleRule.SignedMax, Default = true)] [QuantRule(\"ggml\", ScaleRule.SignedMax)]", "QuantRule(\"ggml\", ScaleRule.SignedMax)", "two rules are named 'ggml'")]
    [InlineData("[QuantRule(\"GGML\", ScaleRule.SignedMax)]", "QuantRule(\"GGML\", ScaleRule.SignedMax)", "rule name 'GGML' is not valid")]
    [InlineData("[QuantRule(\"a\", ScaleRule.SignedMax)] [QuantRule(\"b\", ScaleRule.SignedMax)]", "QuantFormat(\"bad\")", "several rules are declared and none is marked Default = true")]
    [InlineData("[QuantRule(\"a\", ScaleRule.SignedMax, Default = true)] [QuantRule(\"b\", ScaleRule.SignedMax, Default = true)]", "QuantFormat(\"bad\")", "more than one rule is marked Default = true")]
    public void QG0013_InvalidRuleSet_IsReported(string rules, string at, string problem)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced)]
            [Integer(Offset = 8)]
            {{rules}}
            public static partial class Bad;
            """);

        AssertReported(run, "QG0013", "Tests.Bad", at, "The quantization rules of format 'bad' do not work", problem);
    }

    // ---- QG0014 ------------------------------------------------------------------------------

    [Fact]
    public void QG0014_SignedMaxRuleOnACodebookFormat_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.E8M0)]
            [Codes(2)]
            [Codebook(0f, 1f, -1f, 2f)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0014", "Tests.Bad", at: "QuantRule(\"ggml\", ScaleRule.SignedMax)",
            "Rule 'ggml' (SignedMax) cannot quantize format 'bad'", "it needs [Integer(Offset = 2)] codes");
    }

    [Fact]
    public void QG0014_SharedExponentRuleOnAnF16Scale_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4)]
            [Minifloat(2, 1)]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0014", "Tests.Bad", at: "QuantRule(\"ocp\", ScaleRule.SharedExponent)",
            "Rule 'ocp' (SharedExponent) cannot quantize format 'bad'", "with an E8M0 [Scale]");
    }

    [Fact]
    public void QG0014_FlatRuleOnASuperBlockWithSubScales_IsReported()
    {
        // Found by the custom-format tests: SignedMax computed one block scale and left the sub-scales at 0.
        var run = Run("""
            [QuantFormat("bad")]
            [Block(256, SubBlock = 16)]
            [Scale(ScaleCode.F16)]
            [SubScales(4)]
            [Codes(2, Packing = Packing.Sliced, Stride = 32)]
            [Integer(Offset = 2)]
            [QuantRule("signedmax", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0014", "Tests.Bad", at: "QuantRule(\"signedmax\", ScaleRule.SignedMax)",
            "Rule 'signedmax' (SignedMax) cannot quantize format 'bad'", "this rule would leave them unwritten");
    }

    [Theory]
    [InlineData("[Min(ScaleCode.F32, Plane = \"zeros\")]", "[QuantRule(\"hqq\", ScaleRule.HalfQuadratic)]", "QuantRule(\"hqq\", ScaleRule.HalfQuadratic)",
        "Rule 'hqq' (HalfQuadratic)", "a [Min(Mode = MinMode.ZeroPoint)]")]
    [InlineData("[Min(ScaleCode.F32, Mode = MinMode.ZeroPoint, Plane = \"zeros\")]", "[QuantRule(\"hqq\", ScaleRule.HalfQuadratic, Steps = -1)]",
        "QuantRule(\"hqq\", ScaleRule.HalfQuadratic, Steps = -1)", "Rule 'hqq' (HalfQuadratic)", "Steps must be 0 or more; it says -1")]
    public void QG0014_ZeroPointRulesThatDoNotFit_AreReported(string min, string rules, string at, string rule, string problem)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [Block(64)]
            [Codes(4)]
            [Integer]
            [Scale(ScaleCode.F32, Plane = "scales")]
            {{min}}
            {{rules}}
            public static partial class Bad;
            """);

        AssertReported(run, "QG0014", "Tests.Bad", at, rule + " cannot quantize format 'bad'", problem);
    }

    // ---- QG0015 ------------------------------------------------------------------------------

    [Theory]
    [InlineData("Block(32)", "Codes(3, Packing = Packing.Sliced)", "sliced packing needs 1, 2 or 4 bits")]
    [InlineData("Block(32)", "Codes(8, Packing = Packing.Sliced)", "sliced packing needs 1, 2 or 4 bits")]
    [InlineData("Block(32)", "Codes(4, Packing = Packing.Sliced, Stride = 12)", "a run of 12 bytes holds 24 codes, which does not divide the 32 codes of a block")]
    [InlineData("Block(64)", "Codes(4, Packing = Packing.Sliced, Stride = 8)", "Stride must be a multiple of 16; it is 8")]
    [InlineData("Block(32)", "Codes(3, Packing = Packing.SequentialHighFirst)", "high-first packing needs a width that divides 8")]
    [InlineData("Block(32)", "Codes(4, Packing = (Packing)7)", "unknown packing 7")]
    public void QG0015_CodesThatCannotBePacked_IsReported(string block, string codes, string problem)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [{{block}}]
            [Scale(ScaleCode.F16)]
            [{{codes}}]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0015", "Tests.Bad", at: codes, "[Codes] of format 'bad' cannot be packed", problem);
    }

    [Fact]
    public void QG0015_SubScalesUnpackMethodWithoutBytes_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(256, SubBlock = 32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced, Stride = 32)]
            [SubScales(6, Unpack = "UnpackScales")]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0015", "Tests.Bad", at: "SubScales(6, Unpack = \"UnpackScales\")",
            "[SubScales] of format 'bad' cannot be packed", "Bytes must give the field's size");
    }

    // ---- QG0016 ------------------------------------------------------------------------------

    [Fact]
    public void QG0016_GgufLayerWithoutGgufType_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad", Uqff = UqffLayer.Gguf)]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced)]
            [Integer(Offset = 8)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0016", "Tests.Bad", at: "QuantFormat(\"bad\", Uqff = UqffLayer.Gguf)",
            "Format 'bad' is written as a UQFF Gguf layer but declares no GgufType");
    }

    // ---- QG0017 ------------------------------------------------------------------------------

    [Theory]
    [InlineData("Minifloat(3, 2)", "1 sign, 3 exponent and 2 mantissa bits takes 6 bits, but the codes of format 'bad' have 4")]
    [InlineData("Minifloat(0, 3)", "1 sign, 0 exponent and 3 mantissa bits takes 4 bits, but the codes of format 'bad' have 4")]
    public void QG0017_MinifloatWidthThatDoesNotMatchTheCodes_IsReported(string minifloat, string problem)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.E8M0)]
            [Codes(4)]
            [{{minifloat}}]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0017", "Tests.Bad", at: minifloat, problem);
    }

    // ---- QG0018 ------------------------------------------------------------------------------

    [Theory]
    [InlineData("Integer(Offset = 16)", "the offset 16 lies outside the 4-bit codes 0 to 15")]
    [InlineData("Integer(Offset = -1)", "the offset -1 lies outside the 4-bit codes 0 to 15")]
    [InlineData("Integer(Signed = true, Offset = 8)", "a two's complement code takes no offset")]
    public void QG0018_InvalidIntegerOffset_IsReported(string integer, string problem)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced)]
            [{{integer}}]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0018", "Tests.Bad", at: integer, "[Integer] of format 'bad' is not valid", problem);
    }

    // ---- QG0019 ------------------------------------------------------------------------------

    [Fact]
    public void QG0019_EscapeHatchMethodThatDoesNotExist_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(256, SubBlock = 32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced, Stride = 32)]
            [SubScales(6, Unpack = "Nope", Bytes = 12)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        // [SubScales] is not supported yet either (QG0020); the missing method must be reported all the same.
        AssertReported(run, "QG0019", "Tests.Bad", at: "SubScales(6, Unpack = \"Nope\", Bytes = 12)",
            "Format 'bad' names 'Nope' as its Unpack method, but the class has no static method 'Nope'",
            "static void M(ReadOnlySpan<byte> field, Span<byte> scales, Span<byte> mins)");
        AssertDiagnostic(run, "QG0019", "its Pack method", "an Unpack method needs its inverse");
    }

    [Fact]
    public void QG0019_EscapeHatchMethodWithTheWrongSignature_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(256, SubBlock = 32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced, Stride = 32)]
            [SubScales(6, Unpack = "UnpackScales", Pack = "PackScales", Bytes = 12)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad
            {
                private static void UnpackScales(ReadOnlySpan<byte> field, Span<byte> scales, Span<byte> mins) { }

                // Its inverse takes the field as input: the wrong shape.
                private static void PackScales(ReadOnlySpan<byte> field, Span<byte> scales, Span<byte> mins) { }
            }
            """);

        AssertReported(run, "QG0019", "Tests.Bad", at: "SubScales(6, Unpack = \"UnpackScales\", Pack = \"PackScales\", Bytes = 12)",
            "Format 'bad' names 'PackScales' as its Pack method");
        Assert.DoesNotContain(run.GeneratorDiagnostics, d => d.Id == "QG0019" && d.GetMessage(CultureInfo.InvariantCulture).Contains("'UnpackScales'", StringComparison.Ordinal));
    }

    // ---- QG0020 ------------------------------------------------------------------------------

    [Theory]
    [InlineData("Block(32)] [TensorScale(ScaleCode.E4M3)", "QuantFormat(\"bad\")", "a [TensorScale] stored as E4M3")]
    [InlineData("Block(24)", "Block(24)", "blocks and sub-blocks whose size is neither a multiple nor a divisor of 16 elements")]
    [InlineData("Block(32)] [Min(ScaleCode.E8M0)", "QuantFormat(\"bad\")", "a [Min] stored as E8M0")]
    public void QG0020_IntegerFormatWithAnUnsupportedFeature_IsReported(string attributes, string at, string feature)
    {
        var run = Run($$"""
            [QuantFormat("bad")]
            [{{attributes}}]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced)]
            [Integer(Offset = 8)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0020", "Tests.Bad", at, "Format 'bad': " + feature, "is not supported by this version");
    }

    [Fact]
    public void QG0020_CodebookOfMoreThanSixteenEntries_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(5)]
            [Codebook(0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f, 11f, 12f, 13f, 14f, 15f, 16f, 17f, 18f, 19f, 20f, 21f, 22f, 23f, 24f, 25f, 26f, 27f, 28f, 29f, 30f, 31f)]
            [QuantRule("absmax", ScaleRule.AbsMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0020", "Tests.Bad", at: "QuantFormat(\"bad\")", "Format 'bad': codebooks of more than 16 entries");
    }

    [Fact]
    public void QG0020_UnsupportedUqffLayerType_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad", Uqff = UqffLayer.Unquant)]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced)]
            [Integer(Offset = 8)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0020", "Tests.Bad", at: "QuantFormat(\"bad\", Uqff = UqffLayer.Unquant)", "Format 'bad': UQFF layer type Unquant is not supported");
    }

    [Fact]
    public void QG0020_ZeroPointWithACodebookKeptAsIntegers_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Min(ScaleCode.F16, Mode = MinMode.ZeroPoint)]
            [Codes(4)]
            [Minifloat(2, 1)]
            [QuantRule("absmax", ScaleRule.AbsMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0020", "Tests.Bad", at: "QuantFormat(\"bad\")", "Format 'bad': a [Min] together with a codebook kept as integers");
    }

    // ---- QG0021 ------------------------------------------------------------------------------

    [Fact]
    public void QG0021_MoreThanFourPlanes_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad")]
            [Block(32)]
            [Scale(ScaleCode.F16, Plane = "scales")]
            [Min(ScaleCode.F16, Plane = "mins")]
            [Codes(2, Plane = "low")]
            [HighBits(1, Plane = "high1")]
            [HighBits(1, Plane = "high2")]
            [QuantRule("minmax", ScaleRule.MinMax)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0021", "Tests.Bad", at: "QuantFormat(\"bad\")",
            "The planes of format 'bad' do not work", "it has 5 planes (scales, mins, low, high1, high2); at most 4 are allowed");
    }

    [Fact]
    public void QG0021_FieldsOnTwoPartialDeclarations_IsReported()
    {
        var run = Run(
            new SourceInput(FilePath, Usings + """
                [QuantFormat("bad")]
                [Block(32)]
                [Scale(ScaleCode.F16)]
                [Integer(Offset = 8)]
                [QuantRule("ggml", ScaleRule.SignedMax)]
                public static partial class Bad;
                """ + "\n\n" + ValidFormat),
            new SourceInput("Declarations.Codes.cs", Usings + """
                [Codes(4, Packing = Packing.Sliced)]
                public static partial class Bad;
                """));

        AssertReported(run, "QG0021", "Tests.Bad", at: "QuantFormat(\"bad\")",
            "The planes of format 'bad' do not work", "write every field attribute on one declaration");
    }

    // ---- QG0022 ------------------------------------------------------------------------------

    [Fact]
    public void QG0022_GgufTypeOnAFormatWithTwoPlanes_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad", GgufType = 39)]
            [Block(32)]
            [Codes(4)]
            [Minifloat(2, 1)]
            [Scale(ScaleCode.E8M0, Plane = "scales")]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0022", "Tests.Bad", at: "QuantFormat(\"bad\", GgufType = 39)",
            "The identity of format 'bad' does not work", "a GGUF type stores every field in one block record, but this format has planes blocks, scales");
    }

    [Fact]
    public void QG0022_Mxfp4LayerWithTheScaleInTheBlockRecord_IsReported()
    {
        var run = Run("""
            [QuantFormat("bad", Uqff = UqffLayer.Mxfp4)]
            [Block(32)]
            [Scale(ScaleCode.E8M0)]
            [Codes(4)]
            [Minifloat(2, 1)]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0022", "Tests.Bad", at: "QuantFormat(\"bad\", Uqff = UqffLayer.Mxfp4)",
            "The identity of format 'bad' does not work", "a UQFF Mxfp4 layer holds exactly two planes");
    }

    [Theory]
    [InlineData("[Codes(6)]", "[Min(ScaleCode.F32, Mode = MinMode.ZeroPoint, Plane = \"zeros\")]")]
    [InlineData("[Codes(4)]", "[Min(ScaleCode.F16, Mode = MinMode.ZeroPoint, Plane = \"zeros\")]")]
    [InlineData("[Codes(4)]", "[Min(ScaleCode.F32, Mode = MinMode.ZeroPoint)]")]
    public void QG0022_HqqLayerThatIsNotCodesScalesAndZeros_IsReported(string codes, string min)
    {
        var run = Run($$"""
            [QuantFormat("bad", Uqff = UqffLayer.Hqq, RecordPlane = "w_q")]
            [Block(64)]
            {{codes}}
            [Integer]
            [Scale(ScaleCode.F32, Plane = "scales")]
            {{min}}
            [QuantRule("hqq", ScaleRule.HalfQuadratic)]
            public static partial class Bad;
            """);

        AssertReported(run, "QG0022", "Tests.Bad", at: "QuantFormat(\"bad\", Uqff = UqffLayer.Hqq, RecordPlane = \"w_q\")",
            "The identity of format 'bad' does not work", "a UQFF Hqq layer holds 1, 2, 3, 4 or 8-bit codes");
    }

    // ---- declarations that do not compile ----------------------------------------------------------

    [Theory]
    [InlineData("[Block]", "[Codes(8)]")]
    [InlineData("[Block(\"32\")]", "[Codes(8)]")]
    [InlineData("[Block(32)]", "[Codes]")]
    public void AttributeWithACompileError_IsLeftToTheCompiler_NotReportedAsAnInternalError(string block, string codes)
    {
        // While a declaration is being typed its attributes often do not bind; the compiler reports
        // that. QG9999 says the generator itself failed and asks for a bug report, which is wrong here.
        var run = Run($$"""
            [QuantFormat("bad")]
            {{block}}
            [Scale(ScaleCode.F16)]
            {{codes}}
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public static partial class Bad;
            """);

        Assert.Contains(run.Input.GetDiagnostics(), d => d.Severity == DiagnosticSeverity.Error);
        Assert.DoesNotContain(run.GeneratorDiagnostics, d => d.Id == "QG9999");
        AssertNothingGeneratedFor(run, "Tests.Bad");
        AssertValidFormatGenerated(run);
    }

    // ---- helpers -----------------------------------------------------------------------------

    private const string Usings = """
        using System;
        using Quant;

        namespace Tests;


        """;

    /// <summary>Runs the generator on one file: the usings, <see cref="ValidFormat"/>, then <paramref name="declarations"/>.</summary>
    private static GeneratorRun Run(string declarations) =>
        GeneratorHarness.Run(new SourceInput(FilePath, Usings + ValidFormat + "\n\n" + declarations + "\n"));

    private static GeneratorRun Run(params SourceInput[] sources) => GeneratorHarness.Run(sources);

    /// <summary>Every check of a single-declaration diagnostic; returns the diagnostic.</summary>
    private static Diagnostic AssertReported(GeneratorRun run, string id, string typeName, string at, params string[] messageFragments)
    {
        var diagnostic = AssertDiagnostic(run, id, messageFragments);
        AssertLocatedAt(run, diagnostic, at);
        AssertNothingGeneratedFor(run, typeName);
        AssertValidFormatGenerated(run);
        return diagnostic;
    }

    /// <summary>Finds the error <paramref name="id"/> whose message holds every fragment.</summary>
    private static Diagnostic AssertDiagnostic(GeneratorRun run, string id, params string[] messageFragments)
    {
        var match = run.GeneratorDiagnostics.FirstOrDefault(d => d.Id == id
            && messageFragments.All(f => d.GetMessage(CultureInfo.InvariantCulture).Contains(f, StringComparison.Ordinal)));
        if (match is null)
        {
            Assert.Fail($"Expected {id} with a message containing [{string.Join("], [", messageFragments)}]; the generator reported:\n"
                + (run.GeneratorDiagnostics.IsEmpty ? "  nothing\n" : GeneratorRun.Describe(run.GeneratorDiagnostics)));
        }
        Assert.Equal(DiagnosticSeverity.Error, match.Severity);
        return match;
    }

    /// <summary>The diagnostic points into a test file, at exactly one of the <paramref name="texts"/> (an attribute without its brackets, or the class name).</summary>
    private static void AssertLocatedAt(GeneratorRun run, Diagnostic diagnostic, params string[] texts)
    {
        var span = diagnostic.Location.GetLineSpan();
        var tree = run.Input.SyntaxTrees.FirstOrDefault(t => span.IsValid && t.FilePath == span.Path);
        Assert.True(tree is not null, $"{diagnostic.Id} is not located in a declaration's file; its location is '{diagnostic.Location}'.");
        string located = tree.GetText().ToString(diagnostic.Location.SourceSpan);
        Assert.True(texts.Contains(located), $"{diagnostic.Id} points at '{located}', expected one of: '{string.Join("', '", texts)}'.");
    }

    private static void AssertNothingGeneratedFor(GeneratorRun run, string typeName)
    {
        var generated = run.SourcesOf(typeName);
        Assert.True(generated.Count == 0, $"Sources were generated for the invalid format {typeName}: {string.Join(", ", generated)}.");
    }

    private static void AssertValidFormatGenerated(GeneratorRun run) =>
        Assert.Equal(["Tests.Valid.Cpu.g.cs", "Tests.Valid.Layout.g.cs", "Tests.Valid.Registration.g.cs"], run.SourcesOf("Tests.Valid"));
}
