// An artifact's files are checked against its manifest's size and sha256 records before anything loads,
// as the artifact contract asks of every consumer (the Python runtime does the same at load).
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadExplainer } from "../../dist/node.js";
import { GOLDEN_DIR } from "./golden.mjs";

function copyOfArtifact() {
  const directory = join(mkdtempSync(join(tmpdir(), "onnxplain-js-")), "artifact");
  cpSync(join(GOLDEN_DIR, "artifact"), directory, { recursive: true });
  return directory;
}

test("an intact artifact loads; the manifest records every file the client reads", async () => {
  const directory = copyOfArtifact();
  try {
    const manifest = JSON.parse(readFileSync(join(directory, "manifest.json"), "utf-8"));
    assert.deepEqual(Object.keys(manifest.files).sort(), ["model.onnx", "tokenizer.json"]);
    const explainer = await loadExplainer(directory);
    await explainer.release();
  } finally {
    rmSync(join(directory, ".."), { recursive: true, force: true });
  }
});

test("a file of another size or another sha256 is refused in one sentence naming it", async () => {
  const directory = copyOfArtifact();
  try {
    appendFileSync(join(directory, "tokenizer.json"), "\n"); // still valid JSON, one byte longer
    await assert.rejects(
      loadExplainer(directory),
      (error) => {
        assert.equal(error.name, "ArtifactError");
        assert.match(error.message, /tokenizer\.json holds \d+ bytes where the manifest records \d+: it is truncated or was replaced; copy the artifact again or re-export it$/);
        return true;
      },
    );
    cpSync(join(GOLDEN_DIR, "artifact", "tokenizer.json"), join(directory, "tokenizer.json"));
    const model = readFileSync(join(directory, "model.onnx"));
    model[model.length >> 1] ^= 0x01; // one bit of the weights, same size
    writeFileSync(join(directory, "model.onnx"), model);
    await assert.rejects(loadExplainer(directory), /model\.onnx is not the file that was exported \(its sha256 differs from the manifest's\): it was altered or damaged; copy the artifact again or re-export it$/);
    cpSync(join(GOLDEN_DIR, "artifact", "model.onnx"), join(directory, "model.onnx"));
    const manifest = JSON.parse(readFileSync(join(directory, "manifest.json"), "utf-8"));
    manifest.files["model.onnx.data"] = { bytes: 1, sha256: "0".repeat(64) };
    writeFileSync(join(directory, "manifest.json"), JSON.stringify(manifest));
    await assert.rejects(loadExplainer(directory), /keeps part of itself in model\.onnx\.data, which onnxplain-js does not load/);
  } finally {
    rmSync(join(directory, ".."), { recursive: true, force: true });
  }
});

test("the TypeScript SHA-256 (pages without Web Crypto) equals node:crypto's at every padding boundary", async () => {
  const { sha256Hex } = await import("../../dist/sha256.js");
  const { createHash } = await import("node:crypto");
  for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 4099]) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 255);
    assert.equal(sha256Hex(bytes), createHash("sha256").update(bytes).digest("hex"), `${length} bytes`);
  }
  assert.equal(sha256Hex(new TextEncoder().encode("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("a method a reduced-precision artifact does not recommend is said so: one warning, and in every result", async () => {
  const directory = copyOfArtifact();
  const warnings = [];
  const warn = console.warn;
  console.warn = (message) => warnings.push(message);
  try {
    const manifest = JSON.parse(readFileSync(join(directory, "manifest.json"), "utf-8"));
    const [method, other] = Object.keys(manifest.methods);
    manifest.precision = "int8";
    manifest.fidelity = { methods: { [method]: { recommended: false }, [other]: { recommended: true } } };
    writeFileSync(join(directory, "manifest.json"), JSON.stringify(manifest));
    const explainer = await loadExplainer(directory);
    // the Python runtime's sentence (onnxplain.runtime.artifact.Manifest.not_recommended), word for word
    const sentence =
      `${method} is not recommended on this int8 artifact: its relevance fell short of the fp32 artifact's ` +
      "on held-out texts (manifest fidelity); explain it with the fp32 artifact";
    const results = await explainer.explain(["a warm film", "a cold one"], { method });
    await explainer.explain("again", { method });
    assert.deepEqual(warnings, [sentence]);
    assert.ok(results.every((r) => r.metadata.not_recommended === sentence));
    const fine = await explainer.explain("a warm film", { method: other });
    assert.equal(fine[0].metadata.not_recommended, undefined);
    assert.deepEqual(warnings, [sentence]);
    await explainer.release();
  } finally {
    console.warn = warn;
    rmSync(join(directory, ".."), { recursive: true, force: true });
  }
});
