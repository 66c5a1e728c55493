// Loads a GGUF model with llama.cpp (through node-llama-cpp's prebuilt CPU binary: no GPU, no build, no
// download), evaluates a fixed token sequence and writes the logits after every position as JSON:
// { "vocab": V, "tokens": [...], "logits": [[V floats] per position] }.
// The context is set up for a comparison with a float64 reference: F32 K/V cache, no flash attention
// (both would round to f16), greedy sampling (the logits are read as the model gives them).
// Usage: node llama-logits.mjs MODEL.gguf OUT.json TOKEN[,TOKEN...]
// llama.cpp aborts the process on some bad files: run this in a child process.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { writeFileSync } from "node:fs";
import path from "node:path";

const [modelPath, outPath, tokenList] = process.argv.slice(2);
if (!modelPath || !outPath || !tokenList) {
  console.error("usage: node llama-logits.mjs MODEL.gguf OUT.json TOKEN[,TOKEN...]");
  process.exit(2);
}
const tokens = tokenList.split(",").map((t) => Number.parseInt(t, 10));

const llama = await getLlama({
  gpu: false,
  build: "never",
  skipDownload: true,
  usePrebuiltBinaries: true,
  progressLogs: false,
  logLevel: LlamaLogLevel.error,
  maxThreads: 2,
});
const model = await llama.loadModel({ modelPath: path.resolve(modelPath), gpuLayers: 0, useMmap: true });
const context = await model.createContext({
  contextSize: 64,
  batchSize: 64,
  sequences: 1,
  threads: 2,
  flashAttention: false,
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
});
const sequence = context.getSequence();
const input = tokens.map((t) => [t, { generateNext: { logits: true, options: { temperature: 0 } } }]);
const results = await sequence.controlledEvaluate(input);

const logits = results.map((r, i) => {
  const map = r?.next?.logits;
  if (!map) throw new Error(`no logits for position ${i}`);
  const row = [];
  for (const [token, value] of map) row[token] = value;
  return row;
});
const width = Math.max(...logits.map((r) => r.length));
writeFileSync(outPath, JSON.stringify({ vocab: width, tokens, logits }));
await context.dispose();
await model.dispose();
await llama.dispose();
