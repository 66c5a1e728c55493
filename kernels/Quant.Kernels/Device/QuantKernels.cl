/* Quant: the kernel templates every format shares (dequantize, GEMV, tiled GEMM, MoE gather).
 *
 * Appended to a format's generated source (its OpenClSource), which defines the QG_* dialect macros, the
 * QF_* layout macros and the per-chunk functions qf_dequantize_chunk (exact) and qf_dot_chunk (fused). Only
 * loops live here: each work-group stages a segment of some rows' planes in local memory with wide,
 * coalesced loads (block records need not be aligned), then each work-item decodes chunks of QF_CHUNK
 * elements from there. Planes are passed as four buffers whatever the format has (unused ones are never
 * read); a plane's row r starts at r * (K / QF_BLOCK) * QF_Pp_BYTES (tile planes at row / QF_TILE_ROWS, tensor
 * planes hold QF_Pp_BYTES per expert of rowsPerExpert rows).
 */

#define QK_WG 256

/* Bytes one row of a plane takes in local memory for a segment of SEG elements: whole blocks, rounded up to 16
   bytes, plus 16 bytes that wide loads may read past the last block (tensor planes are not staged). */
#define QK_STAGE_BYTES(BYTES, EXTENT, SEG) ((EXTENT) == 2 ? 0 : (((SEG) / QF_BLOCK * (BYTES) + 15) / 16 * 16 + 16))

/* ---- GEMV, gather and dequantize: a segment of about QK_WG chunks per row, QK_ROWS rows per work-group ---- */
#define QK_SEG_UNITS (QK_WG * QF_CHUNK / QF_UNIT > 0 ? QK_WG * QF_CHUNK / QF_UNIT : 1)
#define QK_SEG (QK_SEG_UNITS * QF_UNIT)
#define QK_S0 QK_STAGE_BYTES(QF_P0_BYTES, QF_P0_EXTENT, QK_SEG)
#define QK_S1 QK_STAGE_BYTES(QF_P1_BYTES, QF_P1_EXTENT, QK_SEG)
#define QK_S2 QK_STAGE_BYTES(QF_P2_BYTES, QF_P2_EXTENT, QK_SEG)
#define QK_S3 QK_STAGE_BYTES(QF_P3_BYTES, QF_P3_EXTENT, QK_SEG)
#define QK_ROW_STAGE (QK_S0 + QK_S1 + QK_S2 + QK_S3)
/* Rows per work-group, which share each chunk of x loaded into registers: the host defines it (-D QK_ROWS=n, as many
   rows as 32 KB of staged bytes allow, up to 4), because it sizes the launch. */
#ifndef QK_ROWS
#error QK_ROWS must be defined by the host
#endif

/* ---- tiled GEMM: QK_TM weight rows x QK_TN activation rows per work-group, 4 x 4 outputs per work-item ---- */
#define QK_TM 64
#define QK_TN 64
#define QK_TPAD 68 /* local tile row stride in floats: 16-byte aligned, fewer bank conflicts than 64 */
#define QK_GSEG (QF_UNIT >= 128 ? QF_UNIT : 128 / QF_UNIT * QF_UNIT)
#define QK_G0 QK_STAGE_BYTES(QF_P0_BYTES, QF_P0_EXTENT, QK_GSEG)
#define QK_G1 QK_STAGE_BYTES(QF_P1_BYTES, QF_P1_EXTENT, QK_GSEG)
#define QK_G2 QK_STAGE_BYTES(QF_P2_BYTES, QF_P2_EXTENT, QK_GSEG)
#define QK_G3 QK_STAGE_BYTES(QF_P3_BYTES, QF_P3_EXTENT, QK_GSEG)
#define QK_GROW_STAGE (QK_G0 + QK_G1 + QK_G2 + QK_G3)

#define QK_TABLE (QF_TABLE_SIZE > 0 ? QF_TABLE_SIZE : 1)

/* The format's code table, copied to local memory: lookups with a different code in every lane then cost one
   local load each, where constant memory would serialise them. */
QG_FN void qk_load_table(QG_LOCAL float* tv, int lid)
{
#if QF_TABLE_SIZE > 0
    for (int i = lid; i < QF_TABLE_SIZE; i += QK_WG) tv[i] = QG_AS_FLOAT(qf_table[i]);
#endif
}

/* The tensor scale that row `row` sees (its expert's), or 1 for formats without one. */
QG_FN float qk_tensor_scale(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2, QG_GLOBAL const uchar* p3,
    int row, int rowsPerExpert)
{
#if QF_TENSOR_PLANE >= 0
    QG_GLOBAL const uchar* t = QF_TENSOR_PLANE == 0 ? p0 : QF_TENSOR_PLANE == 1 ? p1 : QF_TENSOR_PLANE == 2 ? p2 : p3;
    int bytes = QF_TENSOR_PLANE == 0 ? QF_P0_BYTES : QF_TENSOR_PLANE == 1 ? QF_P1_BYTES : QF_TENSOR_PLANE == 2 ? QF_P2_BYTES : QF_P3_BYTES;
    return qf_tensor_scale(t + (size_t)(row / rowsPerExpert) * bytes);
#else
    return 1.0f;
#endif
}

/* Stages elements [seg0, seg0 + count) of rows [row0, row0 + rows) of one plane into dst (row r at r * stride):
   16 bytes per work-item and step where every address allows, else 4, else 1. Bytes of a last chunk that lies
   past the row's end (blocks under QF_CHUNK elements only) are zeroed, so that they decode to zeros. */
QG_FN void qk_stage_plane(QG_GLOBAL const uchar* plane, int bytes, int extent, QG_LOCAL uchar* dst, int stride,
    int k, int row0, int rows, int seg0, int count, int lid)
{
    if (extent == 2 || bytes == 0) return;
    size_t rowBytes = (size_t)(k / QF_BLOCK) * bytes;
    int first = seg0 / QF_BLOCK * bytes;
    int n = (count + QF_BLOCK - 1) / QF_BLOCK * bytes;
    int fill = QF_BLOCK < QF_CHUNK ? (count + QF_CHUNK - 1) / QF_CHUNK * (QF_CHUNK / QF_BLOCK) * bytes : n;
    size_t firstRow = extent == 1 ? (size_t)(row0 / QF_TILE_ROWS) : (size_t)row0;
    QG_GLOBAL const uchar* src = plane + firstRow * rowBytes + first;
    /* Tile planes: rows of one tile read the same bytes. */
    int tiled = extent == 1;
    size_t aligned = (size_t)src | rowBytes | (size_t)n;
    if ((aligned & 15) == 0 && n / 16 >= QK_WG / 4)
    {
        /* Long rows (GEMV, dequantize): four rows' loads in flight per work-item before their stores, no divisions. */
        int units = n / 16;
        for (int r0 = 0; r0 < rows; r0 += 4)
        {
            for (int i = lid; i < units; i += QK_WG)
            {
                uint4 v[4];
#pragma unroll
                for (int j = 0; j < 4; j++)
                {
                    int r = r0 + j;
                    size_t srcRow = tiled ? (size_t)((row0 + r) / QF_TILE_ROWS) - firstRow : (size_t)r;
                    if (r < rows) v[j] = ((QG_GLOBAL const uint4*)(src + srcRow * rowBytes))[i];
                }
#pragma unroll
                for (int j = 0; j < 4; j++)
                {
                    if (r0 + j < rows) ((QG_LOCAL uint4*)(dst + (r0 + j) * stride))[i] = v[j];
                }
            }
        }
    }
    else if ((aligned & 15) == 0)
    {
        /* Many short rows (the GEMM's tiles): the work-items spread over rows and units together. */
        int units = n / 16, total = rows * units;
        for (int t0 = lid; t0 < total; t0 += 4 * QK_WG)
        {
            uint4 v[4];
#pragma unroll
            for (int j = 0; j < 4; j++)
            {
                int t = t0 + j * QK_WG, r = t / units, i = t - r * units;
                size_t srcRow = tiled ? (size_t)((row0 + r) / QF_TILE_ROWS) - firstRow : (size_t)r;
                if (t < total) v[j] = ((QG_GLOBAL const uint4*)(src + srcRow * rowBytes))[i];
            }
#pragma unroll
            for (int j = 0; j < 4; j++)
            {
                int t = t0 + j * QK_WG, r = t / units, i = t - r * units;
                if (t < total) ((QG_LOCAL uint4*)(dst + r * stride))[i] = v[j];
            }
        }
    }
    else if ((aligned & 3) == 0)
    {
        int units = n / 4;
        for (int t = lid; t < rows * units; t += QK_WG)
        {
            int r = t / units, i = t - r * units;
            size_t srcRow = tiled ? (size_t)((row0 + r) / QF_TILE_ROWS) - firstRow : (size_t)r;
            ((QG_LOCAL uint*)(dst + r * stride))[i] = ((QG_GLOBAL const uint*)(src + srcRow * rowBytes))[i];
        }
    }
    else
    {
        for (int t = lid; t < rows * n; t += QK_WG)
        {
            int r = t / n, i = t - r * n;
            size_t srcRow = tiled ? (size_t)((row0 + r) / QF_TILE_ROWS) - firstRow : (size_t)r;
            dst[r * stride + i] = src[srcRow * rowBytes + i];
        }
    }
    if (fill > n)
    {
        for (int t = lid; t < rows * (fill - n); t += QK_WG)
        {
            int r = t / (fill - n);
            dst[r * stride + n + t - r * (fill - n)] = 0;
        }
    }
}

/* Stages a segment of rows of every plane; row r of plane p lands at stage + r * rowStage + offset of p. */
#define QK_STAGE_ALL(STAGE, ROW_STAGE, S0, S1, S2, S3, K, ROW0, ROWS, SEG0, COUNT, LID)                                              \
    qk_stage_plane(p0, QF_P0_BYTES, QF_P0_EXTENT, (STAGE), (ROW_STAGE), K, ROW0, ROWS, SEG0, COUNT, LID);                          \
    if (QF_PLANES > 1) qk_stage_plane(p1, QF_P1_BYTES, QF_P1_EXTENT, (STAGE) + (S0), (ROW_STAGE), K, ROW0, ROWS, SEG0, COUNT, LID); \
    if (QF_PLANES > 2) qk_stage_plane(p2, QF_P2_BYTES, QF_P2_EXTENT, (STAGE) + (S0) + (S1), (ROW_STAGE), K, ROW0, ROWS, SEG0, COUNT, LID); \
    if (QF_PLANES > 3) qk_stage_plane(p3, QF_P3_BYTES, QF_P3_EXTENT, (STAGE) + (S0) + (S1) + (S2), (ROW_STAGE), K, ROW0, ROWS, SEG0, COUNT, LID)

/* The chunk functions' plane arguments for staged row r. */
#define QK_PLANES_OF(STAGE, ROW_STAGE, S0, S1, S2, r)                                                                              \
    (STAGE) + (r) * (ROW_STAGE), (STAGE) + (r) * (ROW_STAGE) + (S0), (STAGE) + (r) * (ROW_STAGE) + (S0) + (S1),                     \
    (STAGE) + (r) * (ROW_STAGE) + (S0) + (S1) + (S2)

/* Loads QF_CHUNK floats of x from element e (zeros past k). */
QG_FN void qk_load_x(QG_GLOBAL const float* x, int e, int k, float* xv)
{
    if (e + QF_CHUNK <= k && ((size_t)(x + e) & 15) == 0)
    {
#pragma unroll
        for (int i = 0; i < QF_CHUNK; i += 4)
        {
            float4 v = *(QG_GLOBAL const float4*)(x + e + i);
            xv[i] = v.x; xv[i + 1] = v.y; xv[i + 2] = v.z; xv[i + 3] = v.w;
        }
    }
    else
    {
#pragma unroll
        for (int i = 0; i < QF_CHUNK; i++) xv[i] = e + i < k ? x[e + i] : 0.0f;
    }
}

/* y[r] = the work-group's sum of acc[r] + bias[r] for r < rows: halving steps down to 32 partial sums per row, then 8
   work-items add 4 each and one adds those 8 (short serial chains: this phase is latency, not work). */
QG_FN void qk_reduce_rows(float* acc, int rows, QG_GLOBAL const float* bias, int hasBias, QG_GLOBAL float* y, QG_LOCAL float* red, int lid)
{
#pragma unroll
    for (int r = 0; r < QK_ROWS; r++) red[r * QK_WG + lid] = acc[r];
    QG_BARRIER();
    for (int step = QK_WG / 2; step >= 32; step /= 2)
    {
        if (lid < step)
        {
#pragma unroll
            for (int r = 0; r < QK_ROWS; r++) red[r * QK_WG + lid] += red[r * QK_WG + lid + step];
        }
        QG_BARRIER();
    }
    if (lid < QK_ROWS * 8)
    {
        int r = lid / 8, l = lid % 8;
        red[QK_ROWS * QK_WG + lid] = red[r * QK_WG + l] + red[r * QK_WG + l + 8] + red[r * QK_WG + l + 16] + red[r * QK_WG + l + 24];
    }
    QG_BARRIER();
    if (lid < rows)
    {
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; i++) s += red[QK_ROWS * QK_WG + lid * 8 + i];
        y[lid] = s + (hasBias ? bias[lid] : 0.0f);
    }
}

/* y[r] = W[row0 + r] . x + bias[r] for up to QK_ROWS rows: the body of GEMV and of the gather. */
QG_FN void qk_dot_rows(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2, QG_GLOBAL const uchar* p3,
    int k, int row0, int rows, int rowsPerExpert, QG_GLOBAL const float* x, QG_GLOBAL const float* bias, int hasBias, QG_GLOBAL float* y,
    QG_LOCAL uchar* stage, QG_LOCAL float* tv, QG_LOCAL float* red)
{
    int lid = QG_LID();
    float acc[QK_ROWS], ts[QK_ROWS];
#pragma unroll
    for (int r = 0; r < QK_ROWS; r++)
    {
        acc[r] = 0.0f;
        ts[r] = qk_tensor_scale(p0, p1, p2, p3, row0 + min(r, rows - 1), rowsPerExpert);
    }
    for (int seg0 = 0; seg0 < k; seg0 += QK_SEG)
    {
        int count = min(QK_SEG, k - seg0);
        QG_BARRIER();
        QK_STAGE_ALL(stage, QK_ROW_STAGE, QK_S0, QK_S1, QK_S2, QK_S3, k, row0, rows, seg0, count, lid);
        QG_BARRIER();
        int chunks = (count + QF_CHUNK - 1) / QF_CHUNK;
        for (int c = lid; c < chunks; c += QK_WG)
        {
            float xv[QF_CHUNK];
            qk_load_x(x, seg0 + c * QF_CHUNK, k, xv);
#pragma unroll
            for (int r = 0; r < QK_ROWS; r++)
            {
                if (r < rows) acc[r] += qf_dot_chunk(QK_PLANES_OF(stage, QK_ROW_STAGE, QK_S0, QK_S1, QK_S2, r), tv, ts[r], c, xv);
            }
        }
    }
    qk_reduce_rows(acc, rows, bias, hasBias, y, red, lid);
}

/* GEMV: y[b, n] = x[b] . W[n] + bias[n]. Global size (ceil(n / QK_ROWS) * QK_WG, batch). */
QG_KERNEL QG_WG_SIZE(QK_WG) void quant_gemv(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2, QG_GLOBAL const uchar* p3,
    int n, int k, int rowsPerExpert, QG_GLOBAL const float* x, QG_GLOBAL const float* bias, int hasBias, QG_GLOBAL float* y)
{
    QG_LOCAL uint4 stage16[QK_ROWS * QK_ROW_STAGE / 16]; /* uint4: 16-byte aligned, as the wide loads of staged bytes need */
    QG_LOCAL uchar* stage = (QG_LOCAL uchar*)stage16;
    QG_LOCAL float tv[QK_TABLE];
    QG_LOCAL float red[QK_ROWS * QK_WG + QK_ROWS * 8];
    qk_load_table(tv, QG_LID());
    int row0 = QG_GROUP(0) * QK_ROWS, b = QG_GROUP(1);
    qk_dot_rows(p0, p1, p2, p3, k, row0, min(QK_ROWS, n - row0), rowsPerExpert, x + (size_t)b * k, bias + row0, hasBias,
        y + (size_t)b * n + row0, stage, tv, red);
}

/* ---- streaming GEMV: persistent work-groups that fetch the next rows while they compute these ----
   For rows that fit one segment (K <= QK_SEG, a whole number of chunks) whose plane rows are whole 16-byte units: each
   work-group loops over groups of QK_ROWS rows, keeps the next group's bytes in registers (loads in flight) while it
   decodes the current one from local memory, so the memory never waits for a barrier. */
#define QK_UNITS(BYTES, EXTENT) ((EXTENT) == 2 ? 1 : ((QK_SEG / QF_BLOCK * (BYTES) / 16) + QK_WG - 1) / QK_WG)
#define QK_U0 QK_UNITS(QF_P0_BYTES, QF_P0_EXTENT)
#define QK_U1 QK_UNITS(QF_P1_BYTES, QF_P1_EXTENT)
#define QK_U2 QK_UNITS(QF_P2_BYTES, QF_P2_EXTENT)
#define QK_U3 QK_UNITS(QF_P3_BYTES, QF_P3_EXTENT)

/* Issues the loads of rows [row0, row0 + rows) of one plane: work-item lid takes 16-byte units lid, lid + QK_WG, ... */
QG_FN void qk_fetch_plane(QG_GLOBAL const uchar* plane, int bytes, int extent, int k, int row0, int rows, int lid, uint4* v, int perRow)
{
    if (extent == 2 || bytes == 0) return;
    size_t rowBytes = (size_t)(k / QF_BLOCK) * bytes;
    int units = (int)(rowBytes / 16);
#pragma unroll
    for (int r = 0; r < QK_ROWS; r++)
    {
        size_t row = extent == 1 ? (size_t)((row0 + r) / QF_TILE_ROWS) : (size_t)(row0 + r);
#pragma unroll
        for (int u = 0; u < perRow; u++)
        {
            int i = lid + u * QK_WG;
            if (r < rows && i < units) v[r * perRow + u] = ((QG_GLOBAL const uint4*)(plane + row * rowBytes))[i];
        }
    }
}

QG_FN void qk_keep_plane(int bytes, int extent, int k, int rows, int lid, const uint4* v, int perRow, QG_LOCAL uchar* dst)
{
    if (extent == 2 || bytes == 0) return;
    int units = (int)((size_t)(k / QF_BLOCK) * bytes / 16);
#pragma unroll
    for (int r = 0; r < QK_ROWS; r++)
    {
#pragma unroll
        for (int u = 0; u < perRow; u++)
        {
            int i = lid + u * QK_WG;
            if (r < rows && i < units) ((QG_LOCAL uint4*)(dst + r * QK_ROW_STAGE))[i] = v[r * perRow + u];
        }
    }
}

#define QK_FETCH_ALL(ROW0, ROWS)                                                                                          \
    qk_fetch_plane(p0, QF_P0_BYTES, QF_P0_EXTENT, k, ROW0, ROWS, lid, v0, QK_U0);                                          \
    if (QF_PLANES > 1) qk_fetch_plane(p1, QF_P1_BYTES, QF_P1_EXTENT, k, ROW0, ROWS, lid, v1, QK_U1);                       \
    if (QF_PLANES > 2) qk_fetch_plane(p2, QF_P2_BYTES, QF_P2_EXTENT, k, ROW0, ROWS, lid, v2, QK_U2);                       \
    if (QF_PLANES > 3) qk_fetch_plane(p3, QF_P3_BYTES, QF_P3_EXTENT, k, ROW0, ROWS, lid, v3, QK_U3)

/* Global size (groups * QK_WG, batch) for any number of groups (a few per compute unit); the host checks the conditions above. */
QG_KERNEL QG_WG_SIZE(QK_WG) void quant_gemv_stream(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2,
    QG_GLOBAL const uchar* p3, int n, int k, int rowsPerExpert, QG_GLOBAL const float* x, QG_GLOBAL const float* bias, int hasBias,
    QG_GLOBAL float* y)
{
    QG_LOCAL uint4 stage16[QK_ROWS * QK_ROW_STAGE / 16];
    QG_LOCAL uchar* stage = (QG_LOCAL uchar*)stage16;
    QG_LOCAL float tv[QK_TABLE];
    QG_LOCAL float red[QK_ROWS * QK_WG + QK_ROWS * 8];
    int lid = QG_LID(), b = QG_GROUP(1), groups = (n + QK_ROWS - 1) / QK_ROWS, chunks = k / QF_CHUNK;
    qk_load_table(tv, lid);
    x += (size_t)b * k;
    y += (size_t)b * n;
    uint4 v0[QK_ROWS * QK_U0], v1[QK_ROWS * QK_U1], v2[QK_ROWS * QK_U2], v3[QK_ROWS * QK_U3];
    int g = QG_GROUP(0);
    if (g < groups)
    {
        QK_FETCH_ALL(g * QK_ROWS, min(QK_ROWS, n - g * QK_ROWS));
    }
    for (; g < groups; g += QG_GROUPS(0))
    {
        int row0 = g * QK_ROWS, rows = min(QK_ROWS, n - row0);
        QG_BARRIER();
        qk_keep_plane(QF_P0_BYTES, QF_P0_EXTENT, k, rows, lid, v0, QK_U0, stage);
        if (QF_PLANES > 1) qk_keep_plane(QF_P1_BYTES, QF_P1_EXTENT, k, rows, lid, v1, QK_U1, stage + QK_S0);
        if (QF_PLANES > 2) qk_keep_plane(QF_P2_BYTES, QF_P2_EXTENT, k, rows, lid, v2, QK_U2, stage + QK_S0 + QK_S1);
        if (QF_PLANES > 3) qk_keep_plane(QF_P3_BYTES, QF_P3_EXTENT, k, rows, lid, v3, QK_U3, stage + QK_S0 + QK_S1 + QK_S2);
        QG_BARRIER();
        int next = g + QG_GROUPS(0);
        if (next < groups)
        {
            QK_FETCH_ALL(next * QK_ROWS, min(QK_ROWS, n - next * QK_ROWS));
        }
        float acc[QK_ROWS];
#pragma unroll
        for (int r = 0; r < QK_ROWS; r++) acc[r] = 0.0f;
        if (lid < chunks)
        {
            float xv[QF_CHUNK];
            qk_load_x(x, lid * QF_CHUNK, k, xv);
#pragma unroll
            for (int r = 0; r < QK_ROWS; r++)
            {
                float ts = qk_tensor_scale(p0, p1, p2, p3, row0 + min(r, rows - 1), rowsPerExpert);
                if (r < rows) acc[r] = qf_dot_chunk(QK_PLANES_OF(stage, QK_ROW_STAGE, QK_S0, QK_S1, QK_S2, r), tv, ts, lid, xv);
            }
        }
        qk_reduce_rows(acc, rows, bias + row0, hasBias, y + row0, red, lid);
    }
}

/* The MoE gather: y[p] = x[p / pairsPerXRow] . W[e * n + row] + bias[e, row] for each token-slot pair p, with e = indices[p]
   (x holds one row per token, shared by its slots, or one per pair). Global size (ceil(n / QK_ROWS) * QK_WG, pairs);
   the host has checked every index. */
QG_KERNEL QG_WG_SIZE(QK_WG) void quant_gather(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2, QG_GLOBAL const uchar* p3,
    int n, int k, int rowsPerExpert, QG_GLOBAL const float* x, int pairsPerXRow, QG_GLOBAL const int* indices, QG_GLOBAL const float* bias, int hasBias,
    QG_GLOBAL float* y)
{
    QG_LOCAL uint4 stage16[QK_ROWS * QK_ROW_STAGE / 16]; /* uint4: 16-byte aligned, as the wide loads of staged bytes need */
    QG_LOCAL uchar* stage = (QG_LOCAL uchar*)stage16;
    QG_LOCAL float tv[QK_TABLE];
    QG_LOCAL float red[QK_ROWS * QK_WG + QK_ROWS * 8];
    qk_load_table(tv, QG_LID());
    int row0 = QG_GROUP(0) * QK_ROWS, pair = QG_GROUP(1), e = indices[pair];
    qk_dot_rows(p0, p1, p2, p3, k, e * n + row0, min(QK_ROWS, n - row0), rowsPerExpert, x + (size_t)(pair / pairsPerXRow) * k, bias + (size_t)e * n + row0, hasBias,
        y + (size_t)pair * n + row0, stage, tv, red);
}

/* Dequantizes whole rows: out[row, :] as float32 (half = 0) or binary16 rounded to nearest even (half = 1).
   Global size (ceil(rows / QK_ROWS) * QK_WG). */
QG_FN void qk_dequantize(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2, QG_GLOBAL const uchar* p3,
    int rows, int k, int rowsPerExpert, QG_GLOBAL float* outF, QG_GLOBAL half* outH, QG_LOCAL uchar* stage, QG_LOCAL float* tv)
{
    int lid = QG_LID();
    qk_load_table(tv, lid);
    int row0 = QG_GROUP(0) * QK_ROWS, count0 = min(QK_ROWS, rows - row0);
    float ts[QK_ROWS];
#pragma unroll
    for (int r = 0; r < QK_ROWS; r++) ts[r] = qk_tensor_scale(p0, p1, p2, p3, row0 + min(r, count0 - 1), rowsPerExpert);
    for (int seg0 = 0; seg0 < k; seg0 += QK_SEG)
    {
        int count = min(QK_SEG, k - seg0);
        QG_BARRIER();
        QK_STAGE_ALL(stage, QK_ROW_STAGE, QK_S0, QK_S1, QK_S2, QK_S3, k, row0, count0, seg0, count, lid);
        QG_BARRIER();
        int chunks = (count + QF_CHUNK - 1) / QF_CHUNK;
        for (int c = lid; c < chunks; c += QK_WG)
        {
            for (int r = 0; r < QK_ROWS; r++)
            {
                if (r >= count0) continue;
                float w[QF_CHUNK];
                qf_dequantize_chunk(QK_PLANES_OF(stage, QK_ROW_STAGE, QK_S0, QK_S1, QK_S2, r), tv, ts[r], c, w);
                size_t at = (size_t)(row0 + r) * k + seg0 + c * QF_CHUNK;
                int valid = min(QF_CHUNK, count - c * QF_CHUNK);
#pragma unroll
                for (int i = 0; i < QF_CHUNK; i++)
                {
                    if (i < valid)
                    {
                        if (outF) outF[at + i] = w[i];
                        else QG_STORE_HALF(w[i], outH + at + i);
                    }
                }
            }
        }
    }
}

QG_KERNEL QG_WG_SIZE(QK_WG) void quant_dequantize_f32(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2,
    QG_GLOBAL const uchar* p3, int rows, int k, int rowsPerExpert, QG_GLOBAL float* y)
{
    QG_LOCAL uint4 stage16[QK_ROWS * QK_ROW_STAGE / 16]; /* uint4: 16-byte aligned, as the wide loads of staged bytes need */
    QG_LOCAL uchar* stage = (QG_LOCAL uchar*)stage16;
    QG_LOCAL float tv[QK_TABLE];
    qk_dequantize(p0, p1, p2, p3, rows, k, rowsPerExpert, y, 0, stage, tv);
}

QG_KERNEL QG_WG_SIZE(QK_WG) void quant_dequantize_f16(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2,
    QG_GLOBAL const uchar* p3, int rows, int k, int rowsPerExpert, QG_GLOBAL half* y)
{
    QG_LOCAL uint4 stage16[QK_ROWS * QK_ROW_STAGE / 16]; /* uint4: 16-byte aligned, as the wide loads of staged bytes need */
    QG_LOCAL uchar* stage = (QG_LOCAL uchar*)stage16;
    QG_LOCAL float tv[QK_TABLE];
    qk_dequantize(p0, p1, p2, p3, rows, k, rowsPerExpert, 0, y, stage, tv);
}

/* Tiled GEMM: y[b, n] = x[b] . W[n] + bias[n] for a batch. Each work-group computes QK_TM rows of W by QK_TN rows
   of x: it stages QK_GSEG elements of its weight rows, dequantizes one chunk of each (64 work-items, exactly as the
   CPU does) into a local tile beside a tile of x, and every work-item accumulates 4 x 4 outputs.
   Global size (ceil(n / QK_TM) * QK_WG, ceil(batch / QK_TN)). */
QG_KERNEL QG_WG_SIZE(QK_WG) void quant_gemm(QG_GLOBAL const uchar* p0, QG_GLOBAL const uchar* p1, QG_GLOBAL const uchar* p2, QG_GLOBAL const uchar* p3,
    int n, int k, int rowsPerExpert, int batch, QG_GLOBAL const float* x, QG_GLOBAL const float* bias, int hasBias, QG_GLOBAL float* y)
{
    /* Declared as 16-byte vectors: local arrays of bytes or floats need not be aligned for the wide loads. */
    QG_LOCAL uint4 stage16[QK_TM * QK_GROW_STAGE / 16];
    QG_LOCAL float4 wt4[QF_CHUNK * QK_TPAD / 4];
    QG_LOCAL float4 xt4[QF_CHUNK * QK_TPAD / 4];
    QG_LOCAL uchar* stage = (QG_LOCAL uchar*)stage16;
    QG_LOCAL float* wt = (QG_LOCAL float*)wt4;
    QG_LOCAL float* xt = (QG_LOCAL float*)xt4;
    QG_LOCAL float tv[QK_TABLE];
    int lid = QG_LID();
    qk_load_table(tv, lid);
    int m0 = QG_GROUP(0) * QK_TM, b0 = QG_GROUP(1) * QK_TN;
    int rows = min(QK_TM, n - m0), tm = lid / 16, tn = lid % 16;
    float ts = lid < rows ? qk_tensor_scale(p0, p1, p2, p3, m0 + lid, rowsPerExpert) : 1.0f;
    float acc[16];
#pragma unroll
    for (int i = 0; i < 16; i++) acc[i] = 0.0f;
    for (int seg0 = 0; seg0 < k; seg0 += QK_GSEG)
    {
        int count = min(QK_GSEG, k - seg0);
        QG_BARRIER();
        QK_STAGE_ALL(stage, QK_GROW_STAGE, QK_G0, QK_G1, QK_G2, QK_G3, k, m0, rows, seg0, count, lid);
        QG_BARRIER();
        int chunks = (count + QF_CHUNK - 1) / QF_CHUNK;
        for (int c = 0; c < chunks; c++)
        {
            if (lid < QK_TM)
            {
                float w[QF_CHUNK];
                if (lid < rows) qf_dequantize_chunk(QK_PLANES_OF(stage, QK_GROW_STAGE, QK_G0, QK_G1, QK_G2, lid), tv, ts, c, w);
#pragma unroll
                for (int i = 0; i < QF_CHUNK; i++) wt[i * QK_TPAD + lid] = lid < rows ? w[i] : 0.0f;
            }
            int e0 = seg0 + c * QF_CHUNK;
            for (int t = lid; t < QK_TN * QF_CHUNK / 4; t += QK_WG)
            {
                int bn = t / (QF_CHUNK / 4), i = (t - bn * (QF_CHUNK / 4)) * 4;
                QG_GLOBAL const float* xr = x + (size_t)(b0 + bn) * k + e0 + i;
                int ok = b0 + bn < batch;
                for (int j = 0; j < 4; j++) xt[(i + j) * QK_TPAD + bn] = ok && e0 + i + j < k ? xr[j] : 0.0f;
            }
            QG_BARRIER();
#pragma unroll 8
            for (int i = 0; i < QF_CHUNK; i++)
            {
                float4 a = *(QG_LOCAL const float4*)(wt + i * QK_TPAD + tm * 4);
                float4 b = *(QG_LOCAL const float4*)(xt + i * QK_TPAD + tn * 4);
                acc[0] = QG_MAD(a.x, b.x, acc[0]); acc[1] = QG_MAD(a.x, b.y, acc[1]); acc[2] = QG_MAD(a.x, b.z, acc[2]); acc[3] = QG_MAD(a.x, b.w, acc[3]);
                acc[4] = QG_MAD(a.y, b.x, acc[4]); acc[5] = QG_MAD(a.y, b.y, acc[5]); acc[6] = QG_MAD(a.y, b.z, acc[6]); acc[7] = QG_MAD(a.y, b.w, acc[7]);
                acc[8] = QG_MAD(a.z, b.x, acc[8]); acc[9] = QG_MAD(a.z, b.y, acc[9]); acc[10] = QG_MAD(a.z, b.z, acc[10]); acc[11] = QG_MAD(a.z, b.w, acc[11]);
                acc[12] = QG_MAD(a.w, b.x, acc[12]); acc[13] = QG_MAD(a.w, b.y, acc[13]); acc[14] = QG_MAD(a.w, b.z, acc[14]); acc[15] = QG_MAD(a.w, b.w, acc[15]);
            }
            QG_BARRIER();
        }
    }
#pragma unroll
    for (int mi = 0; mi < 4; mi++)
    {
        int row = m0 + tm * 4 + mi;
        if (row >= n) continue;
        float bi = hasBias ? bias[row] : 0.0f;
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
        {
            int bb = b0 + tn * 4 + ni;
            if (bb < batch) y[(size_t)bb * n + row] = acc[mi * 4 + ni] + bi;
        }
    }
}
