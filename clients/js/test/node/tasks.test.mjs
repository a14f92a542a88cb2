// Question answering and causal language model artifacts give the Python runtime's JSON forms.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { loadExplainer, renderJson } from "../../dist/node.js";
import { answerDifferences, explanationDifferences } from "../parity.mjs";
import { GOLDEN_DIR } from "./golden.mjs";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "cli.js");
const read = (name) => JSON.parse(readFileSync(join(GOLDEN_DIR, name), "utf-8"));
const scaleOf = (results, kind = "tokens") => Math.max(...results.flatMap((r) => r[kind].map((t) => Math.abs(t.relevance))));

test("question answering: explainAnswers and the CLI equal Python's explain_answers", async () => {
  const golden = read("qa.json");
  const explainer = await loadExplainer(join(GOLDEN_DIR, "qa-artifact"), { batchSize: golden.batch_size });
  try {
    for (const run of golden.runs) {
      const pairs = golden.questions.map((q, i) => [q, golden.contexts[i]]);
      const results = await explainer.explain(pairs, { method: run.method });
      const scale = scaleOf(run.results);
      assert.deepEqual(results.flatMap((r, i) => answerDifferences(r.toJSON(), run.results[i], scale, `${run.method} pair ${i}`)), []);
    }
    await assert.rejects(explainer.explain("a text"), /^UserError: a question answering model explains \(question, context\) pairs, not texts; pass pairs$/);
    await assert.rejects(explainer.explain([]), /^UserError: no question to explain; give at least one \(question, context\) pair$/);
    await assert.rejects(explainer.explain([["q"]]), /^UserError: input 0 is not a \(question, context\) pair; /);
    await assert.rejects(explainer.explain([" ", "c"]), /question 0 is empty; /);
    await assert.rejects(explainer.explain(["word ".repeat(80), "c"]), /question 0 leaves no room for its context within the limit of \d+ tokens/);
    await assert.rejects(explainer.explain(["q?", "c"], { target: [5, 1] }), /^UserError: answer span \[5,1\] of pair 0 is not \(start token, end token\) within its \d+ tokens; /);
    const [chosen] = await explainer.explain(["Who?", "Agnès Varda did."], { target: [4, 5] });
    assert.deepEqual([chosen.startToken, chosen.endToken], [4, 5]);
  } finally {
    await explainer.release();
  }
  const args = golden.questions.flatMap((q, i) => ["--question", q, "--context", golden.contexts[i]]);
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, "explain", join(GOLDEN_DIR, "qa-artifact"), ...args]);
  const theirs = JSON.parse(golden.cli_output).results;
  const scale = scaleOf(theirs);
  assert.deepEqual(JSON.parse(stdout).results.flatMap((r, i) => answerDifferences(r, theirs[i], scale, `cli pair ${i}`)), []);
  const shape = (text) => text.replace(/-?\d+(\.\d+)?(e[-+]\d+)?/g, "0");
  assert.equal(shape(stdout), shape(golden.cli_output));
});

test("causal language model: the next token's explanation, by prediction or by a token target", async () => {
  const golden = read("lm.json");
  const explainer = await loadExplainer(join(GOLDEN_DIR, "lm-artifact"));
  try {
    for (const run of golden.runs) {
      const results = await explainer.explain(golden.texts, { method: run.method, target: run.target ?? undefined });
      const scale = scaleOf(run.results);
      assert.deepEqual(results.flatMap((r, i) => explanationDifferences(r.toJSON(), run.results[i], scale, `${run.method} text ${i}`)), []);
      // printed probabilities keep label (token id) order, although a JS object lists integer-like keys first
      const text = renderJson(results.slice(0, 1));
      const start = text.indexOf('"probabilities": {');
      const block = text.slice(start, text.indexOf("\n      }", start));
      const order = [...block.matchAll(/^ {8}("(?:[^"\\]|\\.)*"): /gm)].map((m) => JSON.parse(m[1]));
      assert.deepEqual(order, [...explainer.labels.values()]);
    }
  } finally {
    await explainer.release();
  }
});
