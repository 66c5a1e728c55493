using System;
using Quant.Numerics;

namespace Quant;

/// <summary>Row operations every format gets from its float32 kernels: dequantizing to binary16 and bfloat16.</summary>
public static class QuantRows
{
    // Blocks are dequantized a stack-sized chunk at a time, then narrowed.
    private const int ChunkElements = 1024;

    /// <summary>Dequantizes <c>destination.Length / BlockSize</c> blocks to binary16, rounding to nearest even.</summary>
    public static void DequantizeBlocks<TFormat>(in QuantRow source, int firstBlock, Span<Half> destination, SimdLevel level)
        where TFormat : struct, IQuantFormat<TFormat>
    {
        int blockSize = TFormat.Info.BlockSize;
        int blocks = QuantRowChecks.Blocks(in source, TFormat.Info, firstBlock, destination.Length);
        int step = Math.Max(1, ChunkElements / blockSize);
        Span<float> buffer = stackalloc float[step * blockSize];
        for (int done = 0; done < blocks; done += step)
        {
            int count = Math.Min(step, blocks - done);
            var floats = buffer.Slice(0, count * blockSize);
            TFormat.DequantizeBlocks(in source, firstBlock + done, floats, level);
            FloatConvert.ToHalf(floats, destination.Slice(done * blockSize, count * blockSize));
        }
    }

    /// <summary>Dequantizes <c>destination.Length / BlockSize</c> blocks to bfloat16, rounding to nearest even.</summary>
    public static void DequantizeBlocks<TFormat>(in QuantRow source, int firstBlock, Span<BFloat16> destination, SimdLevel level)
        where TFormat : struct, IQuantFormat<TFormat>
    {
        int blockSize = TFormat.Info.BlockSize;
        int blocks = QuantRowChecks.Blocks(in source, TFormat.Info, firstBlock, destination.Length);
        int step = Math.Max(1, ChunkElements / blockSize);
        Span<float> buffer = stackalloc float[step * blockSize];
        for (int done = 0; done < blocks; done += step)
        {
            int count = Math.Min(step, blocks - done);
            var floats = buffer.Slice(0, count * blockSize);
            TFormat.DequantizeBlocks(in source, firstBlock + done, floats, level);
            FloatConvert.ToBFloat16(floats, destination.Slice(done * blockSize, count * blockSize));
        }
    }
}
