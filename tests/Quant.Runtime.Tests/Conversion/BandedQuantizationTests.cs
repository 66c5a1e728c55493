using System;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Layers;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;

namespace Quant.Runtime.Tests.Conversion;

/// <summary>ISQ of a half-precision weight a band of rows at a time gives the bytes of converting it whole and quantizing it.</summary>
public sealed class BandedQuantizationTests
{
    [Theory]
    [InlineData(DType.BF16, 1)]
    [InlineData(DType.F16, 3)]
    public void EveryRowLocalFormat_QuantizedInBands_EqualsQuantizedWhole(DType dtype, int experts)
    {
        QuantCatalog.EnsureRegistered();
        var rng = new SplitMix64(29);
        int formats = 0;
        foreach (var entry in QuantFormatRegistry.All.Where(e => QuantLinear.IsRowLocal(e.Info)))
        {
            var info = entry.Info;
            // Bands of 7 rows: 20 rows per expert split into 7, 7 and 6.
            int k = 256, n = 20;
            var weight = HostTensor.FromArray(TestTensors.Gaussian(rng, (long)experts * n * k), experts == 1 ? [n, k] : [experts, n, k]).ToDType(dtype);
            var importance = TestTensors.Gaussian(rng, (long)experts * k).Select(Math.Abs).ToArray();
            var request = new IsqRequest(info.Name, null, importance);
            var banded = QuantLinear.QuantizeInBands(weight, experts, n, k, null, request, bandElements: 7 * k);
            var whole = QuantLinear.Quantize(weight.ToFloat32Array(), experts, n, k, null, request);
            for (int p = 0; p < info.Planes.Count; p++)
                Assert.True(whole.Weight.Plane(p).Span.SequenceEqual(banded.Weight.Plane(p).Span), $"{info.Name}: plane {p} differs in bands");
            Assert.Equal(experts, banded.Experts);
            formats++;
        }
        Assert.True(formats > 40, $"{formats} row-local formats");
    }
}
