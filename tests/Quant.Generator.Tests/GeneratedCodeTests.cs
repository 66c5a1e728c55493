using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Generator.Tests.Harness;

namespace Quant.Generator.Tests;

/// <summary>
/// Declarations the generator accepts must give code that compiles, wherever the class sits and
/// whatever the vocabulary combination: a declaration either gets a diagnostic or compilable code,
/// never a generator exception and never broken output.
/// </summary>
public sealed class GeneratedCodeTests
{
    private const string Usings = """
        using System;
        using Quant;

        """;

    private const string Q8Attributes = """
        [Block(32)]
        [Scale(ScaleCode.F16)]
        [Codes(8)]
        [Integer(Signed = true)]
        [QuantRule("ggml", ScaleRule.AbsMax)]
        """;

    // ---- where the class is declared -------------------------------------------------------------

    [Fact]
    public void FormatInTheGlobalNamespace_GeneratesCompilableCode()
    {
        var run = GeneratorHarness.Run(Usings + $$"""
            [QuantFormat("global_q8")]
            {{Q8Attributes}}
            public static partial class GlobalQ8;

            internal static class Use
            {
                public static int Bytes => GlobalQ8.BytesPerBlock + GlobalQ8.Info.BlockSize;
            }
            """);

        run.AssertNoGeneratorDiagnostics();
        Assert.Equal(["GlobalQ8.Cpu.g.cs", "GlobalQ8.Layout.g.cs", "GlobalQ8.OpenCl.g.cs", "GlobalQ8.Registration.g.cs"], run.Sources.Keys);
        Assert.DoesNotContain("namespace", run.Sources["GlobalQ8.Layout.g.cs"], StringComparison.Ordinal);
        run.AssertOutputCompiles();
    }

    [Theory]
    [InlineData("public partial class")]
    [InlineData("internal static partial class")]
    [InlineData("public partial struct")]
    [InlineData("public partial record")]
    [InlineData("public partial record struct")]
    [InlineData("public partial interface")]
    public void FormatNestedInAPartialType_GeneratesCompilableCode(string container)
    {
        var run = GeneratorHarness.Run(Usings + $$"""
            namespace Tests.Nested;

            {{container}} Outer
            {
                public static partial class Middle
                {
                    [QuantFormat("nested_q8")]
                    {{Q8Attributes}}
                    public static partial class Inner;
                }
            }

            internal static class Use
            {
                public static int Bytes => Outer.Middle.Inner.BytesPerBlock + Outer.Middle.Inner.Info.BlockSize;
            }
            """);

        run.AssertNoGeneratorDiagnostics();
        Assert.Equal(4, run.SourcesOf("Tests.Nested.Outer.Middle.Inner").Count);
        run.AssertOutputCompiles();
    }

    // ---- vocabulary combinations ----------------------------------------------------------------

    /// <summary>Declarations the generator accepts today, one per packing, code, scale and rule path of the emitters.</summary>
    public static TheoryData<string, string> AcceptedDeclarations => new()
    {
        { "q4_1: a min and the MinMax rule", """
            [Block(32)] [Scale(ScaleCode.F16)] [Min(ScaleCode.F16)] [Codes(4, Packing = Packing.Sliced)]
            [QuantRule("ggml", ScaleRule.MinMax)]
            """ },
        { "q5_0: a high-bit field", """
            [Block(32)] [Scale(ScaleCode.F16)] [HighBits(1)] [Codes(4, Packing = Packing.Sliced)] [Integer(Offset = 16)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            """ },
        { "q5_1: high bits and a min", """
            [Block(32)] [Scale(ScaleCode.F16)] [Min(ScaleCode.F16)] [HighBits(1)] [Codes(4, Packing = Packing.Sliced)]
            [QuantRule("ggml", ScaleRule.MinMax)]
            """ },
        { "int8 with a BF16 scale", """
            [Block(32)] [Scale(ScaleCode.BF16)] [Codes(8)] [Integer(Signed = true)]
            [QuantRule("absmax", ScaleRule.AbsMax)]
            """ },
        { "int8 with an F32 scale, 256-element blocks", """
            [Block(256)] [Scale(ScaleCode.F32)] [Codes(8)] [Integer(Signed = true)]
            [QuantRule("absmax", ScaleRule.AbsMax)]
            """ },
        { "3-bit codes straddling bytes", """
            [Block(32)] [Scale(ScaleCode.F16)] [Codes(3)] [Integer(Offset = 4)]
            [QuantRule("signed_max", ScaleRule.SignedMax)]
            """ },
        { "6-bit two's complement codes", """
            [Block(64)] [Scale(ScaleCode.F16)] [Codes(6)] [Integer(Signed = true)]
            [QuantRule("absmax", ScaleRule.AbsMax)]
            """ },
        { "2-bit sliced codes, 64-element blocks", """
            [Block(64)] [Scale(ScaleCode.F16)] [Codes(2, Packing = Packing.Sliced, Stride = 16)] [Integer(Offset = 2)]
            [QuantRule("signed_max", ScaleRule.SignedMax)]
            """ },
        { "4-bit codes, high nibble first", """
            [Block(32)] [Scale(ScaleCode.F16)] [Codes(4, Packing = Packing.SequentialHighFirst)] [Integer(Offset = 8)]
            [QuantRule("signed_max", ScaleRule.SignedMax)]
            """ },
        { "1-bit codes", """
            [Block(32)] [Scale(ScaleCode.F16)] [Codes(1)] [Integer(Offset = 1)]
            [QuantRule("signed_max", ScaleRule.SignedMax)]
            """ },
        { "unsigned 8-bit codes with a min", """
            [Block(32)] [Scale(ScaleCode.F16)] [Min(ScaleCode.F16)] [Codes(8)]
            [QuantRule("minmax", ScaleRule.MinMax)]
            """ },
        { "codes in their own plane", """
            [Block(32)] [Scale(ScaleCode.F16)] [Codes(4, Plane = "codes")] [Integer(Offset = 8)]
            [QuantRule("signed_max", ScaleRule.SignedMax)]
            """ },
        { "a 2-bit codebook with an E8M0 scale", """
            [Block(32)] [Scale(ScaleCode.E8M0)] [Codes(2)] [Codebook(0f, 1f, -1f, 2f)]
            [QuantRule("ocp", ScaleRule.SharedExponent, Rounding = CodeRounding.NearestLowestCode)]
            """ },
        { "a 4-bit codebook of integers (IQ4_NL's values) with an E8M0 scale", """
            [Block(32)] [Scale(ScaleCode.E8M0)] [Codes(4, Packing = Packing.Sliced)]
            [Codebook(-127f, -104f, -83f, -65f, -49f, -35f, -22f, -10f, 1f, 13f, 25f, 38f, 53f, 69f, 89f, 113f)]
            [QuantRule("ocp", ScaleRule.SharedExponent, Default = true, Rounding = CodeRounding.NearestLowestCode)]
            [QuantRule("mse", ScaleRule.ErrorMinimizing, Rounding = CodeRounding.NearestLowestCode)]
            """ },
        { "E2M1 in the block record, high nibble first, three rules", """
            [Block(32)] [Scale(ScaleCode.E8M0)] [Codes(4, Packing = Packing.SequentialHighFirst)] [Minifloat(2, 1)]
            [QuantRule("ocp", ScaleRule.SharedExponent, Default = true)]
            [QuantRule("mistralrs", ScaleRule.SharedExponentMistralRs)]
            [QuantRule("mse", ScaleRule.ErrorMinimizing)]
            """ },
        { "E3M0 minifloat", """
            [Block(32)] [Scale(ScaleCode.E8M0)] [Codes(4)] [Minifloat(3, 0)]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            """ },
        { "E2M0 minifloat with a custom bias", """
            [Block(32)] [Scale(ScaleCode.E8M0)] [Codes(3)] [Minifloat(2, 0, Bias = 2)]
            [QuantRule("ocp", ScaleRule.SharedExponent)]
            """ },
        { "a Gguf layer with its own type id", """
            [Block(32)] [Scale(ScaleCode.F16)] [Codes(8)] [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            """ },
    };

    [Theory]
    [MemberData(nameof(AcceptedDeclarations))]
    public void AcceptedDeclaration_GeneratesCompilableCode(string what, string attributes)
    {
        string format = what.StartsWith("a Gguf layer", StringComparison.Ordinal)
            ? "[QuantFormat(\"custom\", Uqff = UqffLayer.Gguf, GgufType = 1000)]"
            : "[QuantFormat(\"custom\")]";
        var run = GeneratorHarness.Run(Usings + $$"""
            namespace Tests;

            {{format}}
            {{attributes}}
            public static partial class Custom;
            """);

        run.AssertNoGeneratorDiagnostics();
        Assert.NotEmpty(run.SourcesOf("Tests.Custom"));
        run.AssertOutputCompiles();
    }

    // ---- declarations the generator accepts but cannot emit (generator bugs) ----------------------

    [Theory]
    [InlineData("Scale(ScaleCode.E8M0)", "Integer(Signed = true)", "QuantRule(\"absmax\", ScaleRule.AbsMax)")]
    [InlineData("Scale(ScaleCode.E8M0)", "Integer(Offset = 128)", "QuantRule(\"signed_max\", ScaleRule.SignedMax)")]
    [InlineData("Scale(ScaleCode.E4M3)", "Integer(Signed = true)", "QuantRule(\"absmax\", ScaleRule.AbsMax)")]
    public void IntegerCodesWithAMinifloatScale_AreReportedOrGenerateCompilableCode(string scale, string integer, string rule)
    {
        // The parser accepts these; the CPU emitter has no way to write (E8M0 under AbsMax or SignedMax) or read (E4M3) the scale.
        var run = RunOrReport($$"""
            [QuantFormat("custom")]
            [Block(32)]
            [{{scale}}]
            [Codes(8)]
            [{{integer}}]
            [{{rule}}]
            public static partial class Custom;
            """);

        AssertReportedOrCompiles(run);
    }

    [Fact]
    public void MinStoredAsE8M0_IsReportedOrGeneratesCompilableCode()
    {
        var run = RunOrReport("""
            [QuantFormat("custom")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Min(ScaleCode.E8M0)]
            [Codes(4, Packing = Packing.Sliced)]
            [QuantRule("minmax", ScaleRule.MinMax)]
            public static partial class Custom;
            """);

        AssertReportedOrCompiles(run);
    }

    [Fact]
    public void RuleNamesThatDifferOnlyInUnderscores_AreReportedOrGenerateCompilableCode()
    {
        // 'ocp1' and 'ocp_1' are distinct, valid rule names, but both become a method named QuantizeOcp1.
        var run = RunOrReport("""
            [QuantFormat("custom")]
            [Block(32)]
            [Scale(ScaleCode.E8M0)]
            [Codes(4)]
            [Minifloat(2, 1)]
            [QuantRule("ocp1", ScaleRule.SharedExponent, Default = true)]
            [QuantRule("ocp_1", ScaleRule.ErrorMinimizing)]
            public static partial class Custom;
            """);

        AssertReportedOrCompiles(run);
    }

    [Theory]
    [InlineData("Description = \"first line\\nsecond line\"")]
    [InlineData("Description = \"a line separator \\u2028 inside\"")]
    public void DescriptionWithALineBreak_GeneratesCompilableCode(string description)
    {
        // Str() escapes quotes and backslashes only, so a line break lands raw inside a string literal.
        var run = RunOrReport($$"""
            [QuantFormat("custom", {{description}})]
            {{Q8Attributes}}
            public static partial class Custom;
            """);

        AssertReportedOrCompiles(run);
    }

    [Fact]
    public void RuleDescriptionWithXmlCharacters_GeneratesWellFormedDocumentation()
    {
        // The rule's description is copied into a /// <summary>; '<' and '&' must be escaped there.
        var run = RunOrReport("""
            [QuantFormat("custom")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(8)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax, Description = "d = amax / 127 when amax < 2^15 & finite")]
            public static partial class Custom;
            """);

        AssertReportedOrCompiles(run);
    }

    [Fact]
    public void PlaneNameWithXmlCharacters_GeneratesWellFormedDocumentation()
    {
        var run = RunOrReport("""
            [QuantFormat("custom")]
            [Block(32)]
            [Scale(ScaleCode.F16, Plane = "scales<f16>")]
            [Codes(8)]
            [Integer(Signed = true)]
            [QuantRule("ggml", ScaleRule.AbsMax)]
            public static partial class Custom;
            """);

        AssertReportedOrCompiles(run);
    }

    [Theory]
    [InlineData("v")]
    [InlineData("q s")]
    public void CodesFieldName_IsReportedOrGeneratesCompilableCode(string name)
    {
        // Sliced codes are loaded into a local named after the field ('qs0'); 'v' collides with the
        // chunk locals v0, v1, and a name that is not an identifier cannot name a local at all.
        var run = RunOrReport($$"""
            [QuantFormat("custom")]
            [Block(32)]
            [Scale(ScaleCode.F16)]
            [Codes(4, Packing = Packing.Sliced, Name = "{{name}}")]
            [Integer(Offset = 8)]
            [QuantRule("ggml", ScaleRule.SignedMax)]
            public static partial class Custom;
            """);

        AssertReportedOrCompiles(run);
    }

    [Theory]
    [InlineData("Format")]
    [InlineData("Info")]
    [InlineData("BlockSize")]
    public void ClassNamedLikeAGeneratedMember_IsReportedOrGeneratesCompilableCode(string className)
    {
        // A member may not share its enclosing type's name (CS0542).
        var run = RunOrReport($$"""
            [QuantFormat("custom")]
            {{Q8Attributes}}
            public static partial class {{className}};
            """);

        AssertReportedOrCompiles(run);
    }

    [Fact]
    public void FormatInANamespaceWithTypesNamedLikeTheHelpers_GeneratesCompilableCode()
    {
        // Generated code names Math, Fp16, Unsafe ... through usings rather than global::, so a type
        // of the same name in the declaring namespace is found first.
        var run = RunOrReport($$"""
            [QuantFormat("custom")]
            {{Q8Attributes}}
            public static partial class Custom;

            internal static class Math { }
            internal static class Fp16 { }
            """);

        AssertReportedOrCompiles(run);
    }

    [Fact]
    public void FormatNestedAsAPrivateClass_IsReportedOrGeneratesCompilableCode()
    {
        // The registration is a [ModuleInitializer], which must be reachable from the module.
        var run = RunOrReport($$"""
            public partial class Outer
            {
                [QuantFormat("custom")]
                {{Q8Attributes}}
                private static partial class Custom;
            }
            """);

        AssertReportedOrCompiles(run);
    }

    [Fact]
    public void FileLocalFormatClass_IsReportedOrGeneratesCompilableCode()
    {
        // The generated 'partial class Custom' lacks the 'file' modifier, so it declares a second type
        // in other files; the file-local class the user wrote never gets the members.
        var run = RunOrReport($$"""
            [QuantFormat("custom")]
            {{Q8Attributes}}
            file static partial class Custom;

            file static class Use
            {
                public static int Bytes => Custom.BytesPerBlock;
            }
            """);

        AssertReportedOrCompiles(run);
    }

    // ---- helpers -----------------------------------------------------------------------------

    private static GeneratorRun RunOrReport(string declarations) =>
        GeneratorHarness.Run(Usings + "namespace Tests;\n\n" + declarations + "\n");

    /// <summary>Either the generator said no (an error diagnostic) and generated nothing, or what it generated compiles.</summary>
    private static void AssertReportedOrCompiles(GeneratorRun run)
    {
        if (run.GeneratorDiagnostics.Any(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error && d.Id.StartsWith("QG", StringComparison.Ordinal)))
        {
            Assert.Empty(run.Sources);
            return;
        }
        Assert.NotEmpty(run.Sources);
        run.AssertOutputCompiles();
    }
}
