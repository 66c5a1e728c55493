using System;
using System.Collections.Generic;
using System.Text;

namespace Quant.Ggml.Tests;

/// <summary>Every output of every quantizer lies in its field's range and every stored scale is finite, on our own data.</summary>
public sealed class CodeRangeTests
{
    public static IEnumerable<object[]> Types() => TestData.TypeData();

    [Theory]
    [MemberData(nameof(Types))]
    public void Quantize_CodesAndScaleCodesWithinRange(string type)
    {
        int n = TestData.BlockSize(type);
        (int CodeMin, int CodeMax, int ScaleMin, int ScaleMax, int MinMax) range = type switch
        {
            "q4_0" or "q4_1" or "iq4_nl" => (0, 15, 0, 0, 0),
            "q5_0" or "q5_1" => (0, 31, 0, 0, 0),
            "q2_K" => (0, 3, 0, 15, 15),
            "q3_K" => (0, 7, 0, 63, 0),
            "q4_K" => (0, 15, 0, 63, 63),
            "q5_K" => (0, 31, 0, 63, 63),
            "q6_K" => (0, 63, -128, 127, 0),
            "q8_K" => (-127, 127, 0, 0, 0),
            "iq4_xs" => (0, 15, 0, 63, 0),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        var failures = new StringBuilder();
        int checkedBlocks = 0;
        foreach ((string importanceName, float[] importance) in TestData.Importances(n, seed: 1234))
        {
            if (!TestData.TakesImportance(type) && importance.Length > 0) continue;
            foreach ((string blockName, float[] x) in TestData.Blocks(n, seed: 99))
            {
                LogicalBlock b = Quantizers.Quantize(type, x, importance, x);
                checkedBlocks++;
                string where = $"{type}, {blockName} block, importance {importanceName}";
                if (!float.IsFinite(b.D) || !float.IsFinite(b.Dmin)) failures.AppendLine($"{where}: d {b.D:R}, dmin {b.Dmin:R}");
                Check(failures, where, "codes", b.Codes, range.CodeMin, range.CodeMax);
                Check(failures, where, "scales", b.Scales, range.ScaleMin, range.ScaleMax);
                Check(failures, where, "mins", b.Mins, 0, range.MinMax);
            }
        }
        Assert.True(failures.Length == 0, failures.ToString());
        Assert.True(checkedBlocks > 100);
    }

    private static void Check(StringBuilder failures, string where, string field, int[] values, int min, int max)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] < min || values[i] > max)
            {
                failures.AppendLine($"{where}: {field}[{i}] = {values[i]} outside {min}..{max}");
                return;
            }
        }
    }
}
