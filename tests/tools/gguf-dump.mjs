// Parses a GGUF file with @huggingface/gguf and prints what it read as JSON on stdout:
// { version, tensorCount, kvCount, tensorDataOffset, metadata: { key: { type, subType?, value } }, tensors: [...] }.
// u64/i64 values (BigInt in JS) are printed as decimal strings; non-finite floats as "NaN", "Infinity", "-Infinity".
// Usage: node gguf-dump.mjs FILE.gguf
import { gguf } from "@huggingface/gguf";
import path from "node:path";

const file = process.argv[2];
if (!file) {
  console.error("usage: node gguf-dump.mjs FILE.gguf");
  process.exit(2);
}

const parsed = await gguf(path.resolve(file), { allowLocalFile: true, typedMetadata: true });

function plain(value) {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

const metadata = {};
for (const [key, entry] of Object.entries(parsed.typedMetadata)) {
  if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
  metadata[key] = { type: entry.type, ...(entry.subType !== undefined ? { subType: entry.subType } : {}), value: plain(entry.value) };
}

const out = {
  version: parsed.metadata.version,
  tensorCount: plain(parsed.metadata.tensor_count),
  kvCount: plain(parsed.metadata.kv_count),
  tensorDataOffset: plain(parsed.tensorDataOffset),
  metadata,
  tensors: parsed.tensorInfos.map((t) => ({ name: t.name, shape: t.shape.map(plain), dtype: t.dtype, offset: plain(t.offset) })),
};
process.stdout.write(JSON.stringify(out));
