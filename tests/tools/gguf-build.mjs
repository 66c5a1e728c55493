// Writes a GGUF v3 file the way @huggingface/gguf's own writer does: the header and metadata come from
// serializeGgufMetadata (the package's serializer; it cannot write arrays of arrays), then the tensor infos,
// padding and data are appended per the GGUF spec (the package has no tensor writer). The content is fixed,
// so the C# test knows what it must read back; the tensors are:
//   "f32.vec"  F32  [8]        values i * 0.5 - 1
//   "f16.mat"  F16  [4, 3]     values (r * 4 + c) * 0.25 as IEEE half
//   "q8_0.mat" Q8_0 [32, 2]    row r: d = 0.5 (f16 0x3800), q[i] = i - 16 + r
// Usage: node gguf-build.mjs OUT.gguf
import { serializeGgufMetadata, GGUFValueType } from "@huggingface/gguf";
import { writeFileSync } from "node:fs";

const out = process.argv[2];
if (!out) {
  console.error("usage: node gguf-build.mjs OUT.gguf");
  process.exit(2);
}

const T = GGUFValueType;
const alignment = 64;
const tensors = [];

// F32 [8]
{
  const data = new DataView(new ArrayBuffer(8 * 4));
  for (let i = 0; i < 8; i++) data.setFloat32(i * 4, i * 0.5 - 1, true);
  tensors.push({ name: "f32.vec", dims: [8n], type: 0, bytes: new Uint8Array(data.buffer) });
}
// F16 [4, 3]: exact halves, written from their bit patterns.
{
  const data = new DataView(new ArrayBuffer(12 * 2));
  for (let i = 0; i < 12; i++) data.setUint16(i * 2, halfBits(i * 0.25), true);
  tensors.push({ name: "f16.mat", dims: [4n, 3n], type: 1, bytes: new Uint8Array(data.buffer) });
}
// Q8_0 [32, 2]: two blocks of 34 bytes.
{
  const data = new DataView(new ArrayBuffer(2 * 34));
  for (let r = 0; r < 2; r++) {
    data.setUint16(r * 34, 0x3800, true);
    for (let i = 0; i < 32; i++) data.setInt8(r * 34 + 2 + i, i - 16 + r);
  }
  tensors.push({ name: "q8_0.mat", dims: [32n, 2n], type: 8, bytes: new Uint8Array(data.buffer) });
}

const typedMetadata = {
  version: { value: 3, type: T.UINT32 },
  tensor_count: { value: BigInt(tensors.length), type: T.UINT64 },
  kv_count: { value: 0n, type: T.UINT64 },
  "general.architecture": { value: "llama", type: T.STRING },
  "general.alignment": { value: alignment, type: T.UINT32 },
  "test.u8": { value: 200, type: T.UINT8 },
  "test.i8": { value: -100, type: T.INT8 },
  "test.u16": { value: 60000, type: T.UINT16 },
  "test.i16": { value: -30000, type: T.INT16 },
  "test.u32": { value: 4000000000, type: T.UINT32 },
  "test.i32": { value: -2000000000, type: T.INT32 },
  "test.f32": { value: 0.1, type: T.FLOAT32 },
  "test.bool": { value: true, type: T.BOOL },
  "test.string": { value: "h\u00e9llo \u2603", type: T.STRING },
  "test.u64": { value: 18446744073709551615n, type: T.UINT64 },
  "test.i64": { value: -9223372036854775808n, type: T.INT64 },
  "test.f64": { value: 2.718281828459045, type: T.FLOAT64 },
  "test.array.i32": { value: [1, -2, 3], type: T.ARRAY, subType: T.INT32 },
  "test.array.string": { value: ["a", "", "\u00fc"], type: T.ARRAY, subType: T.STRING },
  "test.array.f32": { value: [1.5, -0.25], type: T.ARRAY, subType: T.FLOAT32 },
  // Not UINT8: the serializer tests `!subType`, so element type 0 (u8) is refused as "missing".
  "test.array.empty": { value: [], type: T.ARRAY, subType: T.INT16 },
};

// alignment 1: the package pads its output to the alignment; the tensor infos must follow the pairs directly.
const head = serializeGgufMetadata(typedMetadata, { littleEndian: true, alignment: 1 });

const parts = [head];
let dataOffset = 0n;
const offsets = [];
for (const t of tensors) {
  offsets.push(dataOffset);
  dataOffset += BigInt(pad(t.bytes.length, alignment));
}
for (let i = 0; i < tensors.length; i++) {
  const t = tensors[i];
  const name = new TextEncoder().encode(t.name);
  const info = new DataView(new ArrayBuffer(8 + name.length + 4 + 8 * t.dims.length + 4 + 8));
  let at = 0;
  info.setBigUint64(at, BigInt(name.length), true); at += 8;
  new Uint8Array(info.buffer).set(name, at); at += name.length;
  info.setUint32(at, t.dims.length, true); at += 4;
  for (const d of t.dims) { info.setBigUint64(at, d, true); at += 8; }
  info.setUint32(at, t.type, true); at += 4;
  info.setBigUint64(at, offsets[i], true);
  parts.push(new Uint8Array(info.buffer));
}
let length = parts.reduce((n, p) => n + p.length, 0);
parts.push(new Uint8Array(pad(length, alignment) - length));
for (const t of tensors) {
  parts.push(t.bytes);
  parts.push(new Uint8Array(pad(t.bytes.length, alignment) - t.bytes.length));
}
writeFileSync(out, Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length))));

function pad(n, a) {
  return Math.ceil(n / a) * a;
}

// Exact for the values used here (multiples of 0.25 below 4).
function halfBits(v) {
  if (v === 0) return 0;
  const e = Math.floor(Math.log2(v));
  const m = v / 2 ** e - 1;
  return ((e + 15) << 10) | Math.round(m * 1024);
}
