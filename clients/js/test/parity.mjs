// Parity of the JavaScript client with the Python runtime, on the goldens that tests/test_js_golden.py writes.
// Shared by the Node tests and the headless Chromium test: it touches neither files nor Node APIs; the caller
// gives the library (`lib`), a loader of the golden artifacts, and the parsed golden.json. Returns failures.

// Numbers agree within 1e-5 of the method's scale (its largest absolute relevance). `tolerance(method)` may
// widen that for a method whose relevance moves more than that when the weights move by one float32 ulp
// (golden.float32_sensitivity): then no two ONNX Runtime builds that round differently can agree closer.
export const RELATIVE = 1e-5;
export const strict = () => RELATIVE;
export const withinFloat32Sensitivity = (golden) => (method) => Math.max(RELATIVE, 4 * golden.float32_sensitivity[method]);

function largest(rows) {
  let m = 0;
  for (const row of rows) for (const v of row) m = Math.max(m, Math.abs(v));
  return m;
}

/** Differences between a JS and a Python explanation JSON: exact except relevance and probabilities. */
export function explanationDifferences(js, py, scale, where, { ignoreDevice = false, relative = RELATIVE } = {}) {
  const out = [];
  const close = (a, b, tolerance, path) => {
    if (!(Math.abs(a - b) <= tolerance)) out.push(`${where}: ${path} ${a} != ${b} (tolerance ${tolerance})`);
  };
  const same = (a, b, path) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${where}: ${path} ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
  };
  same(Object.keys(js), Object.keys(py), "keys");
  for (const key of ["text", "method", "label", "target", "truncated", "warnings"]) same(js[key], py[key], key);
  const metadata = (m) => (ignoreDevice ? { ...m, device: "-" } : m);
  same(metadata(js.metadata), metadata(py.metadata), "metadata");
  same(Object.keys(js.probabilities), Object.keys(py.probabilities), "probability labels");
  for (const label of Object.keys(py.probabilities)) close(js.probabilities[label], py.probabilities[label], RELATIVE, `probabilities.${label}`);
  const strip = (items) => items.map(({ relevance, ...rest }) => rest);
  same(strip(js.tokens), strip(py.tokens), "tokens");
  same(strip(js.words), strip(py.words), "words");
  const tolerance = relative * scale + 1e-12;
  js.tokens.forEach((t, i) => py.tokens[i] && close(t.relevance, py.tokens[i].relevance, tolerance, `tokens[${i}].relevance`));
  js.words.forEach((w, i) => py.words[i] && close(w.relevance, py.words[i].relevance, tolerance * w.tokens.length, `words[${i}].relevance`));
  return out;
}

export function tokenizationDifferences(explainer, golden) {
  const out = [];
  explainer.tokenize(golden.texts).forEach((encoding, i) => {
    const py = golden.encodings[i];
    const ours = [encoding.ids, encoding.tokens, encoding.offsets, encoding.special, encoding.wordIds, encoding.truncated];
    const theirs = [py.ids, py.tokens, py.offsets, py.special, py.word_ids, py.truncated];
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
      out.push(`tokens of text ${i} ${JSON.stringify(golden.texts[i])}: ${JSON.stringify(encoding.tokens)} ${JSON.stringify(encoding.offsets)} != ` +
        `${JSON.stringify(py.tokens)} ${JSON.stringify(py.offsets)}`);
    }
  });
  return out;
}

/** Every run of the goldens: explanations by `explain`, raw logits and relevance by `run`. */
export async function runDifferences(lib, explainer, golden, { runs = golden.runs, ignoreDevice = false, tolerance = strict } = {}) {
  const out = [];
  const encodings = explainer.tokenize(golden.texts);
  const { inputIds, attentionMask } = lib.pad(encodings, explainer.manifest.padTokenId);
  for (const run of runs) {
    const where = `${run.method} (head mask ${run.head_mask}, target ${JSON.stringify(run.target)})`;
    const headMask = run.head_mask === "override" ? golden.head_mask_override : undefined;
    const scale = largest(run.relevance ?? run.results.map((r) => r.tokens.map((t) => t.relevance)));
    const relative = tolerance(run.method);
    const results = await explainer.explain(golden.texts, { method: run.method, target: run.target ?? undefined, headMask });
    results.forEach((result, i) => out.push(...explanationDifferences(result.toJSON(), run.results[i], scale, `${where} text ${i}`, { ignoreDevice, relative })));
    if (run.logits === undefined) continue;
    const outputs = await explainer.run(inputIds, attentionMask, { methods: [run.method], headMask });
    const labels = run.logits[0].length;
    const logitTolerance = RELATIVE * largest(run.logits);
    run.logits.forEach((row, i) => row.forEach((value, j) => {
      const ours = outputs.logits.data[i * labels + j];
      if (!(Math.abs(ours - value) <= logitTolerance)) out.push(`${where}: logits[${i}][${j}] ${ours} != ${value}`);
    }));
    const length = inputIds[0].length;
    run.relevance.forEach((row, i) => row.forEach((value, j) => {
      const ours = outputs[run.method].data[i * length + j];
      if (!(Math.abs(ours - value) <= relative * scale + 1e-12)) out.push(`${where}: relevance[${i}][${j}] ${ours} != ${value}`);
    }));
  }
  return out;
}

/** Pruning: every method's graph has as many nodes as the Python runtime's pruned graph. */
export function pruningDifferences(explainer, golden) {
  const out = [];
  const counts = explainer.prunedNodeCounts;
  for (const method of explainer.methods) {
    const key = ["logits", explainer.manifest.methods.get(method).output].sort().join("\n");
    if (!counts.has(key)) out.push(`no session was built for ${method}`);
    else if (counts.get(key) !== golden.pruned_nodes[method]) out.push(`${method}: ${counts.get(key)} nodes, Python keeps ${golden.pruned_nodes[method]}`);
  }
  return out;
}

/** Code point spans, converted to UTF-16, slice out each word and token as written. */
export function spanDifferences(lib, results) {
  const out = [];
  for (const result of results) {
    for (const item of [...result.words, ...result.tokens.filter((t) => !t.special && t.text !== "[UNK]")]) {
      const [start, end] = result.utf16Span(item);
      const text = result.text.slice(start, end);
      if ("tokenIndices" in item && text !== item.text) out.push(`word ${JSON.stringify(item.text)} sliced as ${JSON.stringify(text)}`);
      if (lib.sliceCodePoints(result.text, item.start, item.end) !== text) out.push(`span ${item.start}-${item.end} of ${JSON.stringify(result.text)}`);
    }
  }
  return out;
}

export function formattingDifferences(lib, golden) {
  const out = [];
  for (const [value, repr] of golden.float_reprs) {
    if (lib.pythonFloat(value) !== repr) out.push(`float ${value}: ${lib.pythonFloat(value)} != Python's ${repr}`);
  }
  const printed = lib.renderJson(JSON.parse(golden.cli_sample.output).results);
  if (printed !== golden.cli_sample.output) out.push("renderJson does not reproduce the text of onnxplain explain --format json");
  return out;
}

/** Everything above, on the golden artifact and on its version 1 copy (head mask as an initializer). */
export async function parity(lib, load, golden, options = {}) {
  const failures = [];
  const explainer = await load("artifact");
  failures.push(...tokenizationDifferences(explainer, golden));
  failures.push(...(await runDifferences(lib, explainer, golden, options)));
  failures.push(...pruningDifferences(explainer, golden));
  failures.push(...spanDifferences(lib, await explainer.explain(golden.texts)));
  failures.push(...formattingDifferences(lib, golden));
  await explainer.release();
  const version1 = await load("artifact-v1");
  const masked = golden.runs.filter((r) => r.method === "mask-lrp" && r.target === null);
  failures.push(...(await runDifferences(lib, version1, golden, { ...options, runs: masked })).map((f) => `version 1 artifact: ${f}`));
  await version1.release();
  return failures;
}

/** The int8 copy of the golden artifact (int8.json): integer products and row-wise quantisation, every run. */
export async function int8Parity(lib, load, golden, options = {}) {
  const explainer = await load(golden.artifact);
  const failures = await runDifferences(lib, explainer, golden, options);
  await explainer.release();
  return failures.map((f) => `int8 artifact: ${f}`);
}

/** Differences between a JS and a Python `AnswerExplanation` JSON: exact except relevance. */
export function answerDifferences(js, py, scale, where) {
  const out = [];
  const same = (a, b, path) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${where}: ${path} ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
  };
  same(Object.keys(js), Object.keys(py), "keys");
  for (const key of ["question", "context", "method", "answer", "answer_start", "answer_end", "start_token", "end_token", "truncated"]) {
    same(js[key], py[key], key);
  }
  const tolerance = RELATIVE * scale + 1e-12;
  for (const kind of ["tokens", "question_words", "context_words"]) {
    same(js[kind].map(({ relevance, ...rest }) => rest), py[kind].map(({ relevance, ...rest }) => rest), kind);
    js[kind].forEach((item, i) => {
      const limit = tolerance * (item.tokens?.length ?? 1);
      if (py[kind][i] && !(Math.abs(item.relevance - py[kind][i].relevance) <= limit)) {
        out.push(`${where}: ${kind}[${i}].relevance ${item.relevance} != ${py[kind][i].relevance}`);
      }
    });
  }
  return out;
}
