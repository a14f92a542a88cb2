// `onnxplain-js explain` prints what `onnxplain explain --format json` prints, and errors in one sentence.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { explanationDifferences } from "../parity.mjs";
import { GOLDEN_DIR, readGolden } from "./golden.mjs";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "cli.js");
const ARTIFACT = join(GOLDEN_DIR, "artifact");

async function cli(...args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    return { code: error.code, stdout: error.stdout, stderr: error.stderr };
  }
}

test("prints Python's JSON document for the same texts", async () => {
  const golden = readGolden();
  const { code, stdout } = await cli("explain", ARTIFACT, ...golden.cli_sample.texts);
  assert.equal(code, 0);
  const ours = JSON.parse(stdout).results;
  const theirs = JSON.parse(golden.cli_sample.output).results;
  const scale = Math.max(...theirs.flatMap((r) => r.tokens.map((t) => Math.abs(t.relevance))));
  assert.equal(ours.length, theirs.length);
  assert.deepEqual(ours.flatMap((r, i) => explanationDifferences(r, theirs[i], scale, `text ${i}`)), []);
  // same layout line by line: only digits of floats may differ
  const shape = (text) => text.replace(/-?\d+(\.\d+)?(e[-+]\d+)?/g, "0");
  assert.equal(shape(stdout), shape(golden.cli_sample.output));
});

test("--method, --target and --head-mask are those of the Python runs", async () => {
  const golden = readGolden();
  const run = golden.runs.find((r) => r.method === "mask-cp-lrp" && r.head_mask === "override");
  const texts = golden.texts.slice(0, 3);
  const { code, stdout } = await cli("explain", ARTIFACT, "--method", "mask-cp-lrp", "--head-mask", JSON.stringify(golden.head_mask_override), ...texts);
  assert.equal(code, 0);
  const scale = Math.max(...run.relevance.flat().map(Math.abs));
  JSON.parse(stdout).results.forEach((r, i) => assert.deepEqual(explanationDifferences(r, run.results[i], scale, `text ${i}`), []));
  const target = golden.runs.find((r) => typeof r.target === "string");
  const named = await cli("explain", ARTIFACT, "--target", target.target, texts[0]);
  assert.equal(JSON.parse(named.stdout).results[0].target, target.target);
  const indexed = await cli("explain", ARTIFACT, "--target", "0", texts[0]);
  const labels = JSON.parse(readFileSync(join(ARTIFACT, "manifest.json"), "utf-8")).labels;
  assert.equal(JSON.parse(indexed.stdout).results[0].target, labels["0"]);
});

function brokenArtifact(change) {
  const directory = mkdtempSync(join(tmpdir(), "onnxplain-js-"));
  symlinkSync(join(ARTIFACT, "model.onnx"), join(directory, "model.onnx"));
  cpSync(join(ARTIFACT, "tokenizer.json"), join(directory, "tokenizer.json"));
  cpSync(join(ARTIFACT, "manifest.json"), join(directory, "manifest.json"));
  change(directory);
  return directory;
}

function editJson(path, edit) {
  const data = JSON.parse(readFileSync(path, "utf-8"));
  edit(data);
  writeFileSync(path, JSON.stringify(data));
}

/** Record a changed file's size and sha256 in the manifest, as an export that wrote it would have. */
function recordFile(directory, name) {
  const bytes = readFileSync(join(directory, name));
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  editJson(join(directory, "manifest.json"), (m) => { m.files[name] = { bytes: bytes.length, sha256 }; });
}

test("user errors are one sentence on standard error and exit status 2", async () => {
  const cases = [
    [["explain", ARTIFACT, "--method", "nope", "hi"], /^unknown method 'nope'; this artifact offers mask-lrp, /],
    [["explain", ARTIFACT, "--target", "nope", "hi"], /^unknown label 'nope'; this model's labels are 0 \(label_0\), .*; pass one of them as the target$/],
    [["explain", ARTIFACT, "--target", "7", "hi"], /^unknown label 7; /],
    [["explain", ARTIFACT, " \t "], /^text 0 is empty; give each text at least one word$/],
    [["explain", ARTIFACT, "--head-mask", "[[1, 1]]", "hi"], /^head mask has shape \(1, 2\); this model needs \[layers, heads\] = \(2, 4\)$/],
    [["explain", ARTIFACT], /^no text to explain; /],
    [["explain", tmpdir(), "hi"], /has no model\.onnx; it is not a complete onnxplain artifact, re-export it$/],
    [["explain", join(ARTIFACT, "manifest.json"), "hi"], /is not a directory; pass the directory that `onnxplain export` wrote$/],
  ];
  const versioned = brokenArtifact((d) => editJson(join(d, "manifest.json"), (m) => { m.format_version = 99; }));
  cases.push([["explain", versioned, "hi"], /^artifact format version 99 is not supported by this onnxplain-js \(it reads versions 1, 2, 3\); re-export/]);
  const tagger = brokenArtifact((d) => editJson(join(d, "manifest.json"), (m) => { m.task = "token-classification"; }));
  cases.push([["explain", tagger, "hi"], /^this artifact is a token-classification model, which onnxplain-js does not explain \(it explains sequence-classification, causal-lm, question-answering\); /]);
  cases.push([["explain", ARTIFACT, "--question", "q?", "--context", "c"], /^this artifact is a sequence-classification model and explains texts, not questions; /]);
  const qa = join(GOLDEN_DIR, "qa-artifact");
  cases.push([["explain", qa, "hi"], /^this artifact answers questions, so it explains question \+ context pairs, not texts; /]);
  cases.push([["explain", qa, "--question", "q?"], /^1 --question and 0 --context were given; give one context per question$/]);
  cases.push([["explain", qa, "--target", "0", "--question", "q?", "--context", "c"], /^a question answering artifact explains its predicted answer; drop --target$/]);
  const bpe = brokenArtifact((d) => {
    editJson(join(d, "tokenizer.json"), (t) => { t.model.type = "BPE"; });
    recordFile(d, "tokenizer.json");
  });
  cases.push([["explain", bpe, "hi"], /^tokenizer.json cannot be read by onnxplain-js: it uses the BPE model; /]);
  const incomplete = brokenArtifact((d) => rmSync(join(d, "tokenizer.json")));
  cases.push([["explain", incomplete, "hi"], /has no tokenizer\.json; /]);
  for (const [args, pattern] of cases) {
    const { code, stdout, stderr } = await cli(...args);
    assert.equal(code, 2, `${args.join(" ")}: exit ${code}, ${stderr}`);
    assert.equal(stdout, "");
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0].replace(/^onnxplain-js explain: error: /, ""), pattern);
  }
});
