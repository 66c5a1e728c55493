namespace Quant.Generator.Emitters;

/// <summary>
/// The device-C dialects the generator writes kernels in. Generated device code and the shared kernel
/// templates are written once, against the <c>QG_*</c> macros and <c>qg_*</c> helpers below; a dialect is
/// the small table that defines them. OpenCL C is the one in use; CUDA C is a second table of the same
/// names (<c>__global__</c>, <c>__shared__</c>, <c>__syncthreads()</c>, <c>__half2float</c>, ...).
/// </summary>
internal sealed class DeviceDialect(string name, string macros)
{
    /// <summary>The dialect's name, as the generated member is named (<c>OpenClSource</c>).</summary>
    public string Name { get; } = name;

    /// <summary>The dialect's own lines: pragmas and the <c>QG_*</c> macros.</summary>
    public string Macros { get; } = macros;

    /// <summary>OpenCL C 1.2 (PoCL on the CPU, NVIDIA's and other GPU drivers).</summary>
    public static DeviceDialect OpenCl { get; } = new("OpenCl", """
        /* Dialect: OpenCL C 1.2. Exact dequantization needs a*b+c to round twice, so contraction is off;
           dot products ask for fused multiply-adds explicitly with QG_MAD. */
        #pragma OPENCL FP_CONTRACT OFF
        #define QG_KERNEL __kernel
        #define QG_GLOBAL __global
        #define QG_LOCAL __local
        #define QG_STAGED __local
        #define QG_CONSTANT __constant
        #define QG_FN static inline
        #define QG_WG_SIZE(n) __attribute__((reqd_work_group_size(n, 1, 1)))
        #define QG_LID() ((int)get_local_id(0))
        #define QG_GROUP(d) ((int)get_group_id(d))
        #define QG_GROUPS(d) ((int)get_num_groups(d))
        #define QG_BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
        #define QG_MAD(a, b, c) mad(a, b, c)
        #define QG_AS_FLOAT(u) as_float(u)
        #define QG_AS_UINT(f) as_uint(f)
        #define QG_STORE_HALF(v, p) vstore_half_rte((v), 0, (p))
        """);

    /// <summary>
    /// Helpers every dialect shares, written against the macros: loads from staged bytes (little-endian, at
    /// the alignment the generator proved), the scale decoders, and the readers of packed sub-scales, which
    /// mirror <c>Quant.Numerics.BitPacking</c>.
    /// </summary>
    public const string Helpers = """
        /* Helpers shared by every dialect. qg_uNa reads an N-bit little-endian word the generator proved aligned;
           qg_uN reads one at any address. */
        QG_FN uint qg_u8(QG_STAGED const uchar* p) { return p[0]; }
        QG_FN uint qg_u16(QG_STAGED const uchar* p) { return (uint)p[0] | (uint)p[1] << 8; }
        QG_FN uint qg_u16a(QG_STAGED const uchar* p) { return *(QG_STAGED const ushort*)p; }
        QG_FN uint qg_u32(QG_STAGED const uchar* p) { return qg_u16(p) | qg_u16(p + 2) << 16; }
        QG_FN uint qg_u32a(QG_STAGED const uchar* p) { return *(QG_STAGED const uint*)p; }
        /* A float whose mantissa holds the integer bits v < 2^23: (qg_magic(v) - 2^23) == v exactly, without a conversion. */
        QG_FN float qg_magic(uint v) { return QG_AS_FLOAT(v | 0x4B000000u); }
        /* binary16 to float32, exactly, with integer operations only (no denormal arithmetic): a subnormal m * 2^-24 is a
           normal float32; a NaN decodes to the quiet NaN with its sign, as the CPU decoders do. */
        QG_FN float qg_half(uint h)
        {
            uint sign = (h & 0x8000u) << 16, e = h >> 10 & 31u, m = h & 0x3FFu;
            uint bits = e == 31u ? (m != 0u ? 0x7FC00000u : 0x7F800000u)
                : e == 0u ? QG_AS_UINT((float)m * 5.9604645E-08f)
                : ((h & 0x7FFFu) << 13) + 0x38000000u;
            return QG_AS_FLOAT(bits | sign);
        }
        QG_FN float qg_bf16(uint h) { return QG_AS_FLOAT(h << 16); }
        /* 2^(e - 127 + f), exactly, subnormal where it is one; 255 is a power of two too (no NaN), as ggml reads it. */
        QG_FN float qg_e8m0(uint e, int f)
        {
            int p = (int)e - 127 + f;
            return p >= -126 ? QG_AS_FLOAT((uint)min(p + 127, 255) << 23) : p >= -149 ? QG_AS_FLOAT(1u << (p + 149)) : 0.0f;
        }
        /* OCP E4M3 (bias 7, no infinities, S.1111.111 is NaN). */
        QG_FN float qg_e4m3(uint c)
        {
            uint e = c >> 3 & 15u, m = c & 7u, s = (c & 0x80u) << 24;
            float v = e == 15u && m == 7u ? QG_AS_FLOAT(0x7FC00000u) : e == 0u ? (float)m * 0.001953125f : QG_AS_FLOAT((e + 120u) << 23 | m << 20);
            return QG_AS_FLOAT(QG_AS_UINT(v) | s);
        }
        QG_FN uint qg_read_seq(QG_STAGED const uchar* f, int index, int bits)
        {
            int bit = index * bits, at = bit >> 3, shift = bit & 7;
            uint word = f[at];
            if (shift + bits > 8) word |= (uint)f[at + 1] << 8;
            return word >> shift & ((1u << bits) - 1u);
        }
        QG_FN uint qg_read_hf(QG_STAGED const uchar* f, int index, int bits)
        {
            int bit = index * bits;
            return (uint)f[bit >> 3] >> (8 - bits - (bit & 7)) & ((1u << bits) - 1u);
        }
        QG_FN uint qg_read_sliced(QG_STAGED const uchar* f, int index, int bits, int stride)
        {
            int perRun = stride * (8 / bits), run = index / perRun, within = index - run * perRun, slice = within / stride;
            return (uint)f[run * stride + within - slice * stride] >> (slice * bits) & ((1u << bits) - 1u);
        }
        """;
}
