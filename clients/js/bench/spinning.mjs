// One text at a time with ONNX Runtime's intra-op threads sleeping between operators (the default) and
// spinning (`intraOpSpinning`), two explainers of one artifact in one process, alternating calls; medians.
//
//     node clients/js/bench/spinning.mjs ARTIFACT [METHOD] [CALLS] [THREADS]   (defaults: mask-lrp 40 2)
import { loadExplainer } from "../dist/node.js";

const [artifact, method = "mask-lrp", calls = "40", threads = "2"] = process.argv.slice(2);
if (artifact === undefined) {
  console.error("usage: node clients/js/bench/spinning.mjs ARTIFACT [METHOD] [CALLS] [THREADS]");
  process.exit(2);
}
const text = "A gripping, beautifully shot film that stays with you for days, quietly rearranging what you think.";
const explainers = [false, true].map((spinning) =>
  loadExplainer(artifact, { intraOpThreads: Number(threads), intraOpSpinning: spinning }),
);
const [sleeping, spinning] = await Promise.all(explainers);
const times = [[], []];
for (let call = 0; call < Number(calls) + 2; call++) {
  for (const [index, explainer] of [sleeping, spinning].entries()) {
    const start = performance.now();
    await explainer.explain([text], { method });
    if (call >= 2) times[index].push(performance.now() - start); // the first two calls warm up
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const [slept, spun] = times.map(median);
console.log(`${method}, ${threads} threads, one text, ${calls} calls each: sleeping ${slept.toFixed(2)} ms, ` +
  `spinning ${spun.toFixed(2)} ms (${(slept / spun).toFixed(2)}x as fast)`);
await Promise.all([sleeping.release(), spinning.release()]);
