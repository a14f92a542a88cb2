// The browser build's load options, checked where no page is cross-origin isolated (Node has no
// crossOriginIsolated): a bad option is one UserError sentence, told before anything is fetched (the URL below
// has no server; a fetch would fail with a network error instead).
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadExplainerFromUrl } from "../../dist/browser.js";

const NOWHERE = "http://127.0.0.1:9/artifact/";

test("more than one WASM thread on a page that is not cross-origin isolated says which headers it needs", async () => {
  await assert.rejects(loadExplainerFromUrl(NOWHERE, { wasmThreads: 2 }), {
    name: "UserError",
    message:
      "wasmThreads 2 needs a cross-origin isolated page, and this one is not: serve it with the headers " +
      "Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp, or use one thread",
  });
});

test("a WASM thread count that is not a positive whole number is refused before the download", async () => {
  for (const threads of [0, -1, 1.5]) {
    await assert.rejects(loadExplainerFromUrl(NOWHERE, { wasmThreads: threads }), {
      name: "UserError",
      message: `wasmThreads ${threads} is not a positive whole number; use 1 or more`,
    });
  }
});
