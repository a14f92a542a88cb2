// The Node side of benchmarks/js_vs_python.py: load an artifact once, then answer one JSON request a line on
// standard input with one JSON line of timings on standard output, so that the caller can interleave Node
// and Python rounds. Requests: {"texts": [...], "method": M, "batch": B} explains the texts B at a time
// and answers {"seconds": S}; {"texts": [...], "method": M, "unpruned": true} runs them in one call on the
// whole graph (every output fetched, as without pruning) and in the pruned graph of M, and answers
// {"seconds": whole, "pruned_seconds": pruned}; {"quit": true} ends.
import { createInterface } from "node:readline";
import * as ort from "onnxruntime-node";
import { loadExplainer } from "../dist/node.js";
import { PrunableModel } from "../dist/pruning.js";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

const [artifact, threads] = process.argv.slice(2);
const options = { batchSize: 32, cachedSessions: 8, intraOpThreads: threads ? Number(threads) : undefined };
const explainer = await loadExplainer(artifact, options);
let whole = null;

async function wholeGraph() {
  if (whole === null) {
    const model = new PrunableModel(new Uint8Array(await readFile(join(artifact, "model.onnx"))));
    const { bytes } = model.prune(model.outputNames, new Set(["head_mask"]));
    const sessionOptions = { logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: "0" } } } };
    if (options.intraOpThreads) sessionOptions.intraOpNumThreads = options.intraOpThreads;
    whole = await ort.InferenceSession.create(bytes, sessionOptions);
  }
  return whole;
}

async function unpruned(texts, method) {
  const session = await wholeGraph();
  const encodings = explainer.tokenize(texts);
  const { pad } = await import("../dist/explainer.js");
  const { inputIds, attentionMask } = pad(encodings, explainer.manifest.padTokenId);
  const shape = [inputIds.length, inputIds[0].length];
  const int64 = (rows) => new ort.Tensor("int64", BigInt64Array.from(rows.flat(), BigInt), shape);
  const feeds = {
    input_ids: int64(inputIds), attention_mask: int64(attentionMask), token_type_ids: int64(inputIds.map((r) => r.map(() => 0))),
    target: new ort.Tensor("int64", BigInt64Array.from(inputIds, () => -1n), [inputIds.length]),
    head_mask: new ort.Tensor("float32", Float32Array.from(explainer.manifest.defaultHeadMask.flat()), [explainer.manifest.numLayers, explainer.manifest.numHeads]),
  };
  let started = performance.now();
  await session.run(feeds);
  const seconds = (performance.now() - started) / 1000;
  started = performance.now();
  await explainer.run(inputIds, attentionMask, { methods: [method] });
  return { seconds, pruned_seconds: (performance.now() - started) / 1000 };
}

for await (const line of createInterface({ input: process.stdin })) {
  const request = JSON.parse(line);
  if (request.quit) break;
  let answer;
  if (request.unpruned) {
    answer = await unpruned(request.texts, request.method);
  } else {
    const started = performance.now();
    for (let i = 0; i < request.texts.length; i += request.batch) {
      await explainer.explain(request.texts.slice(i, i + request.batch), { method: request.method });
    }
    answer = { seconds: (performance.now() - started) / 1000 };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await explainer.release();
await whole?.release();
process.exit(0); // standard input may still hold the event loop open
