// Session options reach onnxruntime-node: the real binding, wrapped only to see what each session is built with.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { Explainer } from "../../dist/node.js";
import { GOLDEN_DIR } from "./golden.mjs";

function parts() {
  const read = (name) => readFileSync(join(GOLDEN_DIR, "artifact", name));
  return {
    model: new Uint8Array(read("model.onnx")),
    tokenizer: JSON.parse(read("tokenizer.json").toString("utf-8")),
    manifest: JSON.parse(read("manifest.json").toString("utf-8")),
  };
}

/** onnxruntime-node, recording the options of every session it builds. */
function recordingBinding() {
  const built = [];
  const binding = {
    Tensor: ort.Tensor,
    InferenceSession: {
      create(model, options) {
        built.push(options);
        return ort.InferenceSession.create(model, options);
      },
    },
  };
  return { binding, built };
}

test("intraOpSpinning lets ONNX Runtime's intra-op threads spin; off by default; the relevance is the same", async () => {
  const texts = ["A gripping, beautifully shot film.", "dull"];
  const relevance = [];
  for (const spinning of [undefined, false, true]) {
    const { binding, built } = recordingBinding();
    const options = { intraOpThreads: 2, ...(spinning === undefined ? {} : { intraOpSpinning: spinning }) };
    const explainer = await Explainer.fromParts(parts(), binding, options);
    try {
      const method = explainer.defaultMethod;
      relevance.push((await explainer.explain(texts, { method })).map((r) => Array.from(r.tokens, (t) => t.relevance)));
      assert.ok(built.length >= 1);
      for (const options of built) {
        assert.equal(options.extra.session.intra_op.allow_spinning, spinning ? "1" : "0");
        assert.equal(options.intraOpNumThreads, 2);
      }
    } finally {
      await explainer.release();
    }
  }
  assert.deepEqual(relevance[1], relevance[0]);
  assert.deepEqual(relevance[2], relevance[0]);
});
