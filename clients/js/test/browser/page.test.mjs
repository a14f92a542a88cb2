// The browser page in headless Chromium (onnxruntime-web, WASM): the same parity checks as in Node, run
// inside the page, and the page's heat map against `onnxplain explain --format html`.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { launch } from "../../scripts/chromium.mjs";
import { serve } from "../../scripts/static-server.mjs";
import { GOLDEN_DIR, readGolden } from "../node/golden.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let server;
let browser;
let base;

before(async () => {
  readGolden(); // fail early, with the fix, when the goldens are missing
  assert.ok(existsSync(join(ROOT, "dist-web", "page.js")), "dist-web/ is missing; run npm run build");
  server = await serve({ "/": join(ROOT, "dist-web"), "/golden/": GOLDEN_DIR, "/test/": join(ROOT, "test") });
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launch();
  browser.page.on("pageerror", (error) => console.error("page error:", error.message));
  await browser.page.goto(`${base}/index.html?artifact=/golden/artifact/`);
  await browser.page.waitForFunction(() => /^Loaded|error/.test(document.getElementById("status").textContent + document.getElementById("status").className), null, { timeout: 120_000 });
  assert.match(await browser.page.textContent("#status"), /^Loaded/);
});

after(async () => {
  await browser?.close();
  await new Promise((done) => (server ? server.close(done) : done()));
});

/** Failures of `check` (an export of parity.mjs) on the golden file `file`, run inside the page. WASM kernels
 * round differently from native ones: a method agrees within 1e-5 of its scale, or within 4x its own float32
 * sensitivity where that is larger (LRP chains on the random tiny model). */
function failuresInPage(file, check) {
  readGolden(file); // fail early, with the fix, when it is missing
  return browser.page.evaluate(async ([file, check]) => {
    const parity = await import("/test/parity.mjs");
    const golden = await (await fetch(`/golden/${file}`)).json();
    const lib = globalThis.onnxplain;
    const load = (name) => lib.loadExplainerFromUrl(`/golden/${name}/`, { batchSize: golden.batch_size, wasmPaths: lib.wasmPaths });
    return parity[check](lib, load, golden, { ignoreDevice: true, tolerance: parity.withinFloat32Sensitivity(golden) });
  }, [file, check]);
}

test("explanations equal the Python runtime's (headless Chromium, WASM)", { timeout: 600_000 }, async () => {
  const failures = await failuresInPage("golden.json", "parity");
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} differences`);
});

test("the int8 artifact's explanations equal the Python runtime's (headless Chromium, WASM)", { timeout: 600_000 }, async () => {
  const failures = await failuresInPage("int8.json", "int8Parity");
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} differences`);
});

test("the page colours words as onnxplain explain --format html does", async () => {
  const { page } = browser;
  for (const sample of readGolden().html_sample) {
    await page.fill("#text", sample.text);
    await page.selectOption("#method", "mask-lrp");
    await page.selectOption("#target", "");
    await page.evaluate(() => (document.getElementById("results").innerHTML = ""));
    await page.click("#explain");
    await page.waitForSelector("#results article");
    const ours = await page.$$eval("#results .text > span:not(.cut)", (spans) => spans.map((s) => [s.textContent, s.getAttribute("style")]));
    const theirs = [...sample.output.matchAll(/<span style="([^"]+)" title="[^"]*">([^<]*)<\/span>/g)].map((m) => [
      m[2].replace(/&#x27;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">"),
      m[1],
    ]);
    assert.ok(theirs.length > 0);
    assert.deepEqual(ours, theirs, sample.text);
  }
});

test("the page loads an artifact from picked files, and says what is missing in one sentence", async () => {
  const { page } = browser;
  const files = ["model.onnx", "tokenizer.json", "manifest.json"].map((name) => join(GOLDEN_DIR, "artifact", name));
  await page.setInputFiles("#artifact-files", files.slice(1));
  await page.waitForFunction(() => document.getElementById("status").className === "error", null, { timeout: 60_000 });
  assert.equal(await page.textContent("#status"), "the picked files have no model.onnx; pick model.onnx, tokenizer.json and manifest.json together");
  await page.setInputFiles("#artifact-files", files);
  await page.waitForFunction(() => /^Loaded the picked files/.test(document.getElementById("status").textContent), null, { timeout: 120_000 });
  await page.fill("#text", "Hello 😀 world");
  await page.click("#explain");
  await page.waitForFunction(() => /^Explained/.test(document.getElementById("status").textContent), null, { timeout: 60_000 });
  const words = await page.$$eval("#results .text > span:not(.cut)", (spans) => spans.map((s) => s.textContent));
  assert.deepEqual(words, ["Hello", "😀", "world"]);
});

test("the page is cross-origin isolated (WASM may run threads), and a bad wasmThreads is told in one sentence", async () => {
  const { page } = browser;
  assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
  const message = await page.evaluate(async () => {
    const lib = globalThis.onnxplain;
    try {
      await lib.loadExplainerFromUrl("/golden/artifact/", { wasmThreads: 0, wasmPaths: lib.wasmPaths });
      return "loaded";
    } catch (error) {
      return `${error.name}: ${error.message}`;
    }
  });
  assert.equal(message, "UserError: wasmThreads 0 is not a positive whole number; use 1 or more");
});
