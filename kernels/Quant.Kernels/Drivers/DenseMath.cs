using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Quant.Kernels;

/// <summary>Dense float32 pieces the drivers need: a dot product and a float32 GEMV used as the speed baseline.</summary>
public static class DenseMath
{
    /// <summary>The dot product of two equal-length float spans, with the widest vectors available.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("The spans differ in length.", nameof(b));
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated && n >= 64)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= n - 64; i += 64)
            {
                s0 = Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(ref pa, (nuint)i), Vector512.LoadUnsafe(ref pb, (nuint)i), s0);
                s1 = Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(ref pa, (nuint)i + 16), Vector512.LoadUnsafe(ref pb, (nuint)i + 16), s1);
                s2 = Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(ref pa, (nuint)i + 32), Vector512.LoadUnsafe(ref pb, (nuint)i + 32), s2);
                s3 = Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(ref pa, (nuint)i + 48), Vector512.LoadUnsafe(ref pb, (nuint)i + 48), s3);
            }
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= n - 32; i += 32)
            {
                s0 = Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(ref pa, (nuint)i), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
                s1 = Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(ref pa, (nuint)i + 8), Vector256.LoadUnsafe(ref pb, (nuint)i + 8), s1);
                s2 = Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(ref pa, (nuint)i + 16), Vector256.LoadUnsafe(ref pb, (nuint)i + 16), s2);
                s3 = Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(ref pa, (nuint)i + 24), Vector256.LoadUnsafe(ref pb, (nuint)i + 24), s3);
            }
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector128.IsHardwareAccelerated && n >= 16)
        {
            Vector128<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= n - 16; i += 16)
            {
                s0 = Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(ref pa, (nuint)i), Vector128.LoadUnsafe(ref pb, (nuint)i), s0);
                s1 = Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(ref pa, (nuint)i + 4), Vector128.LoadUnsafe(ref pb, (nuint)i + 4), s1);
                s2 = Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(ref pa, (nuint)i + 8), Vector128.LoadUnsafe(ref pb, (nuint)i + 8), s2);
                s3 = Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(ref pa, (nuint)i + 12), Vector128.LoadUnsafe(ref pb, (nuint)i + 12), s3);
            }
            sum = Vector128.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) sum += Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
        return sum;
    }
}
