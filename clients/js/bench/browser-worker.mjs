// The browser side of benchmarks/browser_speed.py: headless Chromium (onnxruntime-web, WASM) with the page of
// dist-web/ and every artifact of the run served on 127.0.0.1 (cross-origin isolated, see static-server.mjs).
// The first line on standard input is the run: {"artifacts": [dirs], "texts": [...], "methods": [...],
// "batches": [...], "wasmThreads": N (optional)}; the worker loads every artifact in the page, makes one warm-up
// call per artifact, method and batch size, and answers {"ready": true, "isolated": whether the page is
// cross-origin isolated}. Then each {"round": true} times one round inside the page (every artifact, method and
// batch size in turn, the texts `batch` at a time) and answers {"seconds": {artifact index: {method: {batch:
// seconds per explanation}}}}; {"quit": true} closes the browser and the server.
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { launch } from "../scripts/chromium.mjs";
import { serve } from "../scripts/static-server.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const run = JSON.parse((await lines.next()).value);
const mounts = { "/": join(ROOT, "dist-web") };
run.artifacts.forEach((directory, index) => (mounts[`/a${index}/`] = directory));
const server = await serve(mounts);
const browser = await launch();
const answer = (value) => process.stdout.write(JSON.stringify(value) + "\n");

try {
  const { page } = browser;
  page.on("pageerror", (error) => console.error("page error:", error.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/index.html?artifact=/a0/`);
  await page.waitForFunction(() => globalThis.onnxplain !== undefined, null, { timeout: 120_000 });
  const isolated = await page.evaluate(async (run) => {
    const lib = globalThis.onnxplain;
    const batchSize = Math.max(...run.batches);
    globalThis.benchExplainers = [];
    for (let index = 0; index < run.artifacts.length; index++) {
      const threads = run.wasmThreads === undefined ? {} : { wasmThreads: run.wasmThreads };
      globalThis.benchExplainers.push(await lib.loadExplainerFromUrl(`/a${index}/`, { batchSize, wasmPaths: lib.wasmPaths, cachedSessions: 8, ...threads }));
    }
    for (const explainer of globalThis.benchExplainers) {
      for (const method of run.methods) {
        for (const batch of run.batches) await explainer.explain(run.texts.slice(0, batch), { method });
      }
    }
    return globalThis.crossOriginIsolated;
  }, run);
  answer({ ready: true, isolated });
  for (let line = await lines.next(); !line.done; line = await lines.next()) {
    const request = JSON.parse(line.value);
    if (request.quit) break;
    answer({
      seconds: await page.evaluate(async (run) => {
        const seconds = {};
        globalThis.benchExplainers.forEach((explainer, index) => (seconds[index] = {}));
        for (const [index, explainer] of globalThis.benchExplainers.entries()) {
          for (const method of run.methods) {
            seconds[index][method] = {};
            for (const batch of run.batches) {
              const started = performance.now();
              for (let first = 0; first < run.texts.length; first += batch) {
                await explainer.explain(run.texts.slice(first, first + batch), { method });
              }
              seconds[index][method][batch] = (performance.now() - started) / 1000 / run.texts.length;
            }
          }
        }
        return seconds;
      }, run),
    });
  }
} finally {
  await browser.close();
  await new Promise((done) => server.close(done));
}
