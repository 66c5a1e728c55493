using System;
using System.IO;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Tests.Support;

/// <summary>Random tensors and temporary folders for the runtime tests.</summary>
internal static class TestTensors
{
    public static float[] Gaussian(SplitMix64 rng, long count, double scale = 1.0)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = (float)(rng.NextGaussian() * scale);
        return values;
    }

    public static HostTensor Random(SplitMix64 rng, DType dtype, params int[] shape)
    {
        long count = HostTensor.ElementCountOf(shape);
        if (dtype.IsFloat() && dtype is DType.F32 or DType.F16 or DType.BF16)
            return HostTensor.FromArray(Gaussian(rng, count), shape).ToDType(dtype);
        var tensor = HostTensor.Zeros(dtype, shape);
        rng.NextBytes(tensor.AsWritableSpan<byte>());
        return tensor;
    }

    /// <summary>A fresh folder under the temp folder, deleted when disposed.</summary>
    public sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("quant-rt-").FullName;

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
