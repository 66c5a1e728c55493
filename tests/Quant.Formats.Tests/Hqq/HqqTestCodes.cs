using System;
using System.Buffers.Binary;

namespace Quant.Formats.Tests.Hqq;

/// <summary>The HQQ formats' planes read and written by the test itself: codes as an LSB-first bit stream, F32 values.</summary>
internal static class HqqTestCodes
{
    /// <summary>Codes as one LSB-first bit stream (code i at bits i * bits ..), as the format's codes plane holds them row after row.</summary>
    public static byte[] Pack(ReadOnlySpan<byte> codes, int bits)
    {
        var bytes = new byte[(codes.Length * bits + 7) / 8];
        for (int i = 0; i < codes.Length; i++)
        {
            for (int b = 0; b < bits; b++)
            {
                if ((codes[i] >> b & 1) != 0) bytes[(i * bits + b) / 8] |= (byte)(1 << ((i * bits + b) % 8));
            }
        }
        return bytes;
    }

    /// <summary>Code <paramref name="index"/> of an LSB-first bit stream.</summary>
    public static int Code(ReadOnlySpan<byte> stream, int index, int bits)
    {
        int code = 0;
        for (int b = 0; b < bits; b++) code |= (stream[(index * bits + b) / 8] >> ((index * bits + b) % 8) & 1) << b;
        return code;
    }

    public static float[] Floats(ReadOnlySpan<byte> bytes)
    {
        var result = new float[bytes.Length / 4];
        for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(4 * i));
        return result;
    }

    public static byte[] Bytes(ReadOnlySpan<float> values)
    {
        var result = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(result.AsSpan(4 * i), values[i]);
        return result;
    }
}
