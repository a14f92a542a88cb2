#!/usr/bin/env node
/**
 * `onnxplain-js explain ARTIFACT [--method M] [--target T] [--head-mask MASK] [--batch-size N]
 * [--max-length N] TEXT...`: prints exactly what `onnxplain explain ARTIFACT --format json` prints for the
 * same arguments (`{"results": [...]}`). MASK is a JSON array [layers][heads] or a path to a JSON file
 * holding one. Question answering artifacts: `--question Q --context C` (repeatable, paired in order). A user error is one line on standard error and exit status 2, as in Python.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { UserError } from "./errors.js";
import type { Explainer, HeadMask } from "./explainer.js";
import { loadExplainer } from "./node.js";
import { renderJson } from "./python-json.js";
import { checkPairs } from "./question-answering.js";

const USAGE =
  "usage: onnxplain-js explain ARTIFACT [--method M] [--target T] [--head-mask MASK] [--batch-size N] [--max-length N] TEXT... | --question Q --context C ...";

function headMaskOption(value: string | undefined): HeadMask | undefined {
  if (value === undefined) return undefined;
  const text = value.trimStart().startsWith("[") ? value : readText(value);
  try {
    return JSON.parse(text) as number[][];
  } catch {
    throw new UserError(`--head-mask is neither a JSON array nor a JSON file; pass e.g. [[1,0],[1,1]] or mask.json`);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf-8");
  } catch {
    throw new UserError(`cannot read the head mask file ${path}; pass a JSON array [layers][heads] or an existing file`);
  }
}

function integerOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UserError(`--${name} ${value} is not an integer; pass a whole number`);
  return Number(value);
}

async function explain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      method: { type: "string" },
      target: { type: "string" },
      "head-mask": { type: "string" },
      "batch-size": { type: "string" },
      "max-length": { type: "string" },
      format: { type: "string" },
      question: { type: "string", multiple: true, default: [] },
      context: { type: "string", multiple: true, default: [] },
    },
  });
  if (values.format !== undefined && values.format !== "json") {
    throw new UserError(`--format ${values.format} is not offered by onnxplain-js, which prints JSON; drop --format`);
  }
  const [artifact, ...texts] = positionals;
  if (artifact === undefined) throw new UserError(`no artifact given; ${USAGE}`);
  const explainer = await loadExplainer(artifact, {
    batchSize: integerOption("batch-size", values["batch-size"]),
    maxLength: integerOption("max-length", values["max-length"]),
  });
  try {
    if (explainer.manifest.task === "question-answering") {
      await explainAnswers(explainer, texts, values);
      return 0;
    }
    if (values.question!.length > 0 || values.context!.length > 0) {
      throw new UserError(
        `this artifact is a ${explainer.manifest.task} model and explains texts, not questions; pass texts without --question/--context`,
      );
    }
    if (texts.length === 0) throw new UserError("no text to explain; pass texts as arguments");
    const method = values.method ?? explainer.defaultMethod;
    explainer.checkMethod(method);
    // a label name, or the index it spells when no label has that name (as Python's command line reads it)
    const named = values.target !== undefined && [...explainer.labels.values()].includes(values.target);
    const target = values.target !== undefined && /^\d+$/.test(values.target) && !named ? Number(values.target) : values.target;
    const targets = explainer.targetIndices(target, texts.length);
    const headMask = headMaskOption(values["head-mask"]);
    if (headMask !== undefined) explainer.checkHeadMask(headMask);
    const results = await explainer.explainEncodings(explainer.tokenize(texts), method, targets, headMask);
    process.stdout.write(renderJson(results));
  } finally {
    await explainer.release();
  }
  return 0;
}

async function explainAnswers(
  explainer: Explainer,
  texts: string[],
  values: { target?: string; method?: string; question?: string[]; context?: string[] },
): Promise<void> {
  if (values.target !== undefined) throw new UserError("a question answering artifact explains its predicted answer; drop --target");
  if (texts.length > 0) {
    throw new UserError(
      "this artifact answers questions, so it explains question + context pairs, not texts; pass --question Q --context C instead of texts",
    );
  }
  const questions = values.question ?? [];
  const contexts = values.context ?? [];
  if (questions.length !== contexts.length) {
    throw new UserError(`${questions.length} --question and ${contexts.length} --context were given; give one context per question`);
  }
  if (questions.length === 0) throw new UserError("no question to explain; pass --question Q --context C");
  checkPairs(questions.map((question, i) => [question, contexts[i]]));
  const method = values.method ?? explainer.defaultMethod;
  explainer.checkMethod(method);
  const pairs = questions.map((question, i): [string, string] => [question, contexts[i]]);
  process.stdout.write(renderJson(await explainer.explainAnswers(pairs, { method })));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "explain") {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    return await explain(rest);
  } catch (error) {
    const known = error instanceof UserError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (!known) throw error;
    process.stderr.write(`onnxplain-js explain: error: ${(error as Error).message}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
