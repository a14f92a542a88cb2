// One text at a time with ONNX Runtime's intra-op threads sleeping between operators (the default) and
// spinning (`intraOpSpinning`): each in a process of its own (spinning threads left over from one explainer's
// call would slow another's in the same process), the two alternating over `ROUNDS` runs; medians.
//
//     node clients/js/bench/spinning.mjs ARTIFACT [METHOD] [CALLS] [THREADS] [ROUNDS]   (mask-lrp 40 2 2)
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { loadExplainer } from "../dist/node.js";

const TEXT = "A gripping, beautifully shot film that stays with you for days, quietly rearranging what you think.";
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function child(artifact, method, calls, threads, spinning) {
  const explainer = await loadExplainer(artifact, { intraOpThreads: threads, intraOpSpinning: spinning });
  const times = [];
  for (let call = 0; call < calls + 2; call++) {
    const start = performance.now();
    await explainer.explain([TEXT], { method });
    if (call >= 2) times.push(performance.now() - start); // the first two calls warm up
  }
  await explainer.release();
  console.log(median(times));
}

const args = process.argv.slice(2);
if (args[0] === "--child") {
  const [, artifact, method, calls, threads, mode] = args;
  await child(artifact, method, Number(calls), Number(threads), mode === "spinning");
} else {
  const [artifact, method = "mask-lrp", calls = "40", threads = "2", rounds = "2"] = args;
  if (artifact === undefined) {
    console.error("usage: node clients/js/bench/spinning.mjs ARTIFACT [METHOD] [CALLS] [THREADS] [ROUNDS]");
    process.exit(2);
  }
  const runs = { sleeping: [], spinning: [] };
  for (let round = 0; round < Number(rounds); round++) {
    for (const mode of ["sleeping", "spinning"]) {
      const output = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--child", artifact, method, calls, threads, mode]);
      runs[mode].push(Number(output.toString().trim()));
    }
  }
  const show = (values) => values.map((v) => v.toFixed(2)).join(", ");
  const ratios = runs.sleeping.map((slept, i) => (slept / runs.spinning[i]).toFixed(2));
  console.log(`${method}, ${threads} threads, one text, medians of ${calls} calls per run: sleeping ${show(runs.sleeping)} ms, ` +
    `spinning ${show(runs.spinning)} ms (${ratios.join(", ")}x as fast, run by run)`);
}
