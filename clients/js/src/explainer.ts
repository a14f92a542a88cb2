/**
 * `Explainer`: an artifact ready to explain, the twin of the Python runtime's `Explainer`. It runs on any
 * ONNX Runtime binding (onnxruntime-node in `node.ts`, onnxruntime-web in `browser.ts`); this file knows
 * nothing of files or of the network.
 */
import type { Tensor } from "onnxruntime-common";
import {
  ATTENTION_MASK, CAUSAL_LM, SEQUENCE_CLASSIFICATION, HEAD_MASK, INPUT_IDS, LOGITS, PREDICTED_TARGET, QUESTION_ANSWERING, TARGET,
  TOKEN_TYPE_IDS, knownLabels, labelIndex, notRecommended, readManifest, type Manifest,
} from "./artifact.js";
import { UserError } from "./errors.js";
import { explanation, type Explanation, type Metadata } from "./results.js";
import { SessionPool, type OrtBinding, type SessionOptions } from "./sessions.js";
import { answerExplanation, checkPairs, encodePairs, type AnswerExplanation, type Pair, type PairEncoding } from "./question-answering.js";
import { isBlank } from "./text-offsets.js";
import { encodeText, type TextEncoding } from "./tokenization.js";
import { Tokenizer, type TokenizerJson } from "./tokenizer/tokenizer.js";

/** A label by name or index; `null`/`undefined` explains the predicted label. */
export type Target = string | number | null | undefined;
/** A head mask [layers][heads] (1 = the head keeps its relevance), or a flat Float32Array of that size. */
export type HeadMask = number[][] | Float32Array;

export interface LoadOptions extends SessionOptions {
  /** Texts per ONNX Runtime call (default 16). */
  batchSize?: number;
  /** Where longer texts are cut, in tokens (default and maximum: the model's limit). */
  maxLength?: number;
  /** How many output sets (method combinations) keep a built session (default 4). */
  cachedSessions?: number;
  /** The device name written into results' metadata (default "cpu"). */
  device?: string;
}

export interface ExplainOptions {
  /** Explanation method (default: the artifact's default method, mask-lrp when it has it). */
  method?: string;
  /** One target for all texts, or one per text. */
  target?: Target | Target[];
  /** Override of the artifact's head mask, for head-masked methods (Mask-LRP and its variants). */
  headMask?: HeadMask;
}

export interface RunOptions {
  /** Methods whose relevance to compute; default all, [] = logits only. */
  methods?: string[];
  /** Label index per example, -1 = predicted (default all -1); question answering: [start, end] per example. */
  target?: number[] | [number, number][];
  headMask?: HeadMask;
  tokenTypeIds?: number[][];
}

/** Outputs of one call: `logits` [batch, labels] and each method's relevance [batch, sequence], row-major. */
export type RunOutputs = Record<string, { data: Float32Array; dims: readonly number[] }>;

/** The parts of an artifact, already read: the model's bytes and the two JSON files, parsed. */
export interface ArtifactParts {
  model: Uint8Array;
  tokenizer: unknown;
  manifest: unknown;
}

/** Python's repr of a string, as the Python runtime's messages quote names. */
export function pythonRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
  return quote + (quote === "'" ? body.replace(/'/g, "\\'") : body) + quote;
}

function targetRepr(target: Target): string {
  return typeof target === "string" ? pythonRepr(target) : String(target);
}

/** The tasks this client explains (the Python runtime's JSON forms for each). */
export const TASKS = [SEQUENCE_CLASSIFICATION, CAUSAL_LM, QUESTION_ANSWERING];

export interface AnswerOptions {
  method?: string;
  /** The answer span to explain: one (start token, end token) of the encoding for all pairs, or one (or
   * null) per pair; default: the predicted one. */
  target?: [number, number] | ([number, number] | null)[];
}

export class Explainer {
  readonly methods: string[];
  private readonly tokenizer: Tokenizer;
  /** Methods whose not-recommended warning was given. */
  private readonly warned = new Set<string>();
  /** Method -> why this reduced-precision artifact does not recommend it (`notRecommended`). */
  private readonly caveats: Map<string, string>;

  private constructor(
    readonly manifest: Manifest,
    tokenizer: Tokenizer,
    private readonly sessions: SessionPool,
    readonly batchSize: number,
    readonly maxLength: number,
    readonly device: string,
  ) {
    this.methods = [...manifest.methods.keys()];
    this.tokenizer = tokenizer;
    this.caveats = new Map(
      this.methods.flatMap((m) => {
        const caveat = notRecommended(manifest, m);
        return caveat === undefined ? [] : [[m, caveat] as [string, string]];
      }),
    );
  }

  /** An explainer from an artifact's parts and an ONNX Runtime binding (see `node.ts`, `browser.ts`). */
  static async fromParts(parts: ArtifactParts, ort: OrtBinding, options: LoadOptions = {}): Promise<Explainer> {
    const manifest = readManifest(parts.manifest);
    if (!TASKS.includes(manifest.task)) {
      throw new UserError(
        `this artifact is a ${manifest.task} model, which onnxplain-js does not explain (it explains ` +
          `${TASKS.join(", ")}); explain it from Python with onnxplain explain`,
      );
    }
    const batchSize = options.batchSize ?? 16;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`batch size ${batchSize} is not positive; use 1 or more`);
    const limit = manifest.maxLength;
    const maxLength = options.maxLength ?? limit;
    if (!(maxLength > 2 && maxLength <= limit)) {
      throw new UserError(`max length ${maxLength} is outside 3..${limit} (the model's limit); pick one inside`);
    }
    const cached = options.cachedSessions ?? 4;
    if (cached < 1) throw new UserError(`cached sessions ${cached} is not positive; use 1 or more`);
    const tokenizer = new Tokenizer(parts.tokenizer as TokenizerJson);
    const sessions = new SessionPool(parts.model, ort, options, cached);
    const explainer = new Explainer(manifest, tokenizer, sessions, batchSize, maxLength, options.device ?? "cpu");
    // build the most likely session now, so that a problem shows at load time, not at the first text
    await sessions.session([LOGITS, manifest.methods.get(manifest.defaultMethod)!.output]);
    return explainer;
  }

  get labels(): Map<number, string> {
    return new Map(this.manifest.labels);
  }

  get defaultMethod(): string {
    return this.manifest.defaultMethod;
  }

  /** Nodes in the graph built for each output set so far (to show what pruning saves). */
  get prunedNodeCounts(): Map<string, number> {
    return new Map(this.sessions.nodeCounts);
  }

  /** Token ids, code point offsets, special-token mask and word ids of each text (see tokenization.ts). */
  tokenize(texts: string | string[]): TextEncoding[] {
    const list = typeof texts === "string" ? [texts] : texts;
    list.forEach((text, index) => {
      if (typeof text !== "string") throw new UserError(`text ${index} is a ${typeof text}, not a string; pass strings`);
      if (isBlank(text)) throw new UserError(`text ${index} is empty; give each text at least one word`);
    });
    return list.map((text) => encodeText(this.tokenizer, text, this.maxLength));
  }

  /**
   * Explain each text (or, with a question answering artifact, each (question, context) pair: see
   * `explainAnswers`); `target`: none (= predicted), a label name or index, or one per text.
   */
  async explain(texts: string | string[], options?: ExplainOptions): Promise<Explanation[]>;
  async explain(pairs: Pair | Pair[], options?: AnswerOptions): Promise<AnswerExplanation[]>;
  async explain(inputs: string | string[] | Pair | Pair[], options: ExplainOptions | AnswerOptions = {}): Promise<Explanation[] | AnswerExplanation[]> {
    if (this.manifest.task === QUESTION_ANSWERING) {
      if (typeof inputs === "string") {
        throw new UserError("a question answering model explains (question, context) pairs, not texts; pass pairs");
      }
      const isPair = inputs.length === 2 && inputs.every((v) => typeof v === "string");
      return this.explainAnswers((isPair ? [inputs] : inputs) as Pair[], options as AnswerOptions);
    }
    return this.explainTexts(inputs as string | string[], options as ExplainOptions);
  }

  private async explainTexts(texts: string | string[], options: ExplainOptions): Promise<Explanation[]> {
    const method = options.method ?? this.defaultMethod;
    this.checkMethod(method);
    const encodings = this.tokenize(texts);
    const targets = this.targetIndices(options.target, encodings.length);
    return this.explainEncodings(encodings, method, targets, options.headMask);
  }

  /** Explain tokenized texts: batches of similar length, each padded to its longest, in input order. */
  async explainEncodings(encodings: TextEncoding[], method: string, targets: number[], headMask?: HeadMask): Promise<Explanation[]> {
    this.checkMethod(method);
    const results: Explanation[] = new Array(encodings.length);
    const order = encodings.map((_, i) => i).sort((a, b) => encodings[b].ids.length - encodings[a].ids.length);
    const metadata = this.metadata(method, headMask);
    for (let first = 0; first < order.length; first += this.batchSize) {
      const rows = order.slice(first, first + this.batchSize);
      const batch = rows.map((i) => encodings[i]);
      const { inputIds, attentionMask } = pad(batch, this.manifest.padTokenId);
      const outputs = await this.run(inputIds, attentionMask, { methods: [method], target: rows.map((i) => targets[i]), headMask });
      const length = inputIds[0].length;
      const labels = this.manifest.labels.size;
      rows.forEach((index, row) => {
        results[index] = explanation(
          encodings[index],
          outputs[method].data.subarray(row * length, (row + 1) * length),
          outputs[LOGITS].data.subarray(row * labels, (row + 1) * labels),
          targets[index],
          method,
          this.manifest.labels,
          metadata,
        );
      });
    }
    return results;
  }

  /** Tokenize question + context pairs (question answering artifacts); contexts are cut to fit, never questions. */
  tokenizePairs(pairs: Pair[]): PairEncoding[] {
    return encodePairs(this.tokenizer, pairs, this.maxLength);
  }

  /**
   * Explain the answer to each question in its context (question answering artifacts): the predicted span,
   * or the `target` span(s), (start token, end token) of the pair's encoding. Batched like texts.
   */
  async explainAnswers(pairs: Pair[], options: AnswerOptions = {}): Promise<AnswerExplanation[]> {
    if (this.manifest.task !== QUESTION_ANSWERING) {
      throw new UserError(`this artifact is a ${this.manifest.task} model; explainAnswers needs a question answering artifact`);
    }
    checkPairs(pairs);
    const method = options.method ?? this.defaultMethod;
    this.checkMethod(method);
    const encodings = this.tokenizePairs(pairs);
    const spans = answerTargets(options.target, encodings);
    const results: AnswerExplanation[] = new Array(encodings.length);
    const order = encodings.map((_, i) => i).sort((a, b) => encodings[b].ids.length - encodings[a].ids.length);
    for (let first = 0; first < order.length; first += this.batchSize) {
      const rows = order.slice(first, first + this.batchSize);
      const batch = rows.map((i) => encodings[i]);
      const { inputIds, attentionMask } = pad(batch, this.manifest.padTokenId);
      const length = inputIds[0].length;
      const typeIds = batch.map((e) => [...e.typeIds, ...new Array<number>(length - e.ids.length).fill(0)]);
      const target = rows.map((i) => spans[i]);
      const outputs = await this.run(inputIds, attentionMask, { methods: [method], target, tokenTypeIds: typeIds });
      rows.forEach((index, row) => {
        results[index] = answerExplanation(
          pairs[index][0], pairs[index][1], method, encodings[index],
          outputs[LOGITS].data.subarray(row * length * 2, (row + 1) * length * 2),
          outputs[method].data.subarray(row * length, (row + 1) * length),
          target[row],
        );
      });
    }
    return results;
  }

  /**
   * One ONNX Runtime call on token ids ([batch][sequence], padded); only the parts of the graph that the
   * asked outputs need are run. Returns `logits` and each method's relevance.
   */
  async run(inputIds: number[][], attentionMask: number[][], options: RunOptions = {}): Promise<RunOutputs> {
    const methods = options.methods ?? this.methods;
    methods.forEach((m) => this.checkMethod(m));
    const batch = inputIds.length;
    const length = batch > 0 ? inputIds[0].length : 0;
    const shape = (rows: number[][]): boolean => rows.length === batch && rows.every((r) => r.length === length);
    if (batch === 0 || !shape(inputIds) || !shape(attentionMask)) {
      throw new UserError("input ids and attention mask must be [batch, sequence] arrays of the same shape");
    }
    const { Tensor } = this.sessions.ort;
    const targetTensor = this.manifest.task === QUESTION_ANSWERING
      ? new Tensor("int64", BigInt64Array.from(answerSpanTarget(options.target as [number, number][] | undefined, batch, length).flat(), (v) => BigInt(v)), [batch, 2])
      : new Tensor("int64", BigInt64Array.from(this.classTarget(options.target as number[] | undefined, batch), (v) => BigInt(v)), [batch]);
    const int64 = (rows: number[][]): Tensor => new Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [batch, length]);
    const feeds: Record<string, Tensor> = {
      [INPUT_IDS]: int64(inputIds),
      [ATTENTION_MASK]: int64(attentionMask),
      [TARGET]: targetTensor,
      [HEAD_MASK]: new Tensor("float32", this.checkHeadMask(options.headMask ?? this.manifest.defaultHeadMask), [
        this.manifest.numLayers,
        this.manifest.numHeads,
      ]),
    };
    if (this.manifest.inputs.includes(TOKEN_TYPE_IDS)) {
      feeds[TOKEN_TYPE_IDS] = int64(options.tokenTypeIds ?? inputIds.map((r) => r.map(() => 0)));
    }
    const names = [LOGITS, ...methods.map((m) => this.manifest.methods.get(m)!.output)];
    const values = await this.sessions.run(names, feeds);
    const outputs: RunOutputs = { [LOGITS]: { data: values[LOGITS].data as Float32Array, dims: values[LOGITS].dims } };
    for (const method of methods) {
      const value = values[this.manifest.methods.get(method)!.output];
      outputs[method] = { data: value.data as Float32Array, dims: value.dims };
    }
    return outputs;
  }

  /** The `target` input of a classifier: one label index per example, -1 = predicted. */
  classTarget(target: number[] | undefined, batch: number): number[] {
    const values = target ?? new Array<number>(batch).fill(PREDICTED_TARGET);
    const count = this.manifest.labels.size;
    if (values.length !== batch || values.some((v) => !Number.isInteger(v) || v < PREDICTED_TARGET || v >= count)) {
      throw new UserError(
        `target must hold one label index per example (0..${count - 1}, or -1 for the predicted label), got [${values.join(", ")}]`,
      );
    }
    return values;
  }

  /** Label indices (-1 = predicted) for `count` texts from nothing, a label, or one label per text. */
  targetIndices(target: Target | Target[], count: number): number[] {
    const targets = Array.isArray(target) ? target : new Array<Target>(count).fill(target);
    if (targets.length !== count) throw new UserError(`${targets.length} targets were given for ${count} texts; give one per text`);
    return targets.map((label) => {
      if (label === null || label === undefined) return PREDICTED_TARGET;
      const index = labelIndex(this.manifest, label);
      if (index === undefined) {
        throw new UserError(
          `unknown label ${targetRepr(label)}; this model's labels are ${knownLabels(this.manifest)}; pass one of them as the target`,
        );
      }
      return index;
    });
  }

  /** Refuse an unknown method; warn (console.warn, once per method) about one this reduced-precision artifact does not recommend. */
  checkMethod(method: string): void {
    if (!this.manifest.methods.has(method)) {
      throw new UserError(`unknown method ${pythonRepr(method)}; this artifact offers ${this.methods.join(", ")}`);
    }
    const caveat = this.caveats.get(method);
    if (caveat !== undefined && !this.warned.has(method)) {
      this.warned.add(method);
      console.warn(caveat);
    }
  }

  /** The head mask as float32 [layers * heads]; one sentence when its shape is not [layers, heads]. */
  checkHeadMask(mask: HeadMask): Float32Array {
    const layers = this.manifest.numLayers;
    const heads = this.manifest.numHeads;
    const needed = `this model needs [layers, heads] = (${layers}, ${heads})`;
    if (mask instanceof Float32Array) {
      if (mask.length !== layers * heads) throw new UserError(`head mask has ${mask.length} values; ${needed}`);
      return mask;
    }
    const rows = Array.isArray(mask) ? mask : [];
    const ragged = rows.some((r) => !Array.isArray(r) || r.length !== rows[0].length);
    if (ragged || rows.length !== layers || (rows[0] as number[]).length !== heads) {
      const shape = ragged ? "a ragged shape" : `shape (${rows.length}, ${(rows[0] ?? []).length})`;
      throw new UserError(`head mask has ${shape}; ${needed}`);
    }
    return Float32Array.from(rows.flat());
  }

  /** Close every session (frees ONNX Runtime's memory). */
  async release(): Promise<void> {
    await this.sessions.release();
  }

  private metadata(method: string, headMask: HeadMask | undefined): Metadata {
    const metadata: Metadata = { device: this.device, max_length: this.maxLength };
    if (this.manifest.methods.get(method)!.readsHeadMask) {
      metadata.head_mask = headMask !== undefined ? "caller's" : "artifact default";
    }
    const caveat = this.caveats.get(method);
    if (caveat !== undefined) metadata.not_recommended = caveat;
    return metadata;
  }
}

/** Answer spans per pair (-1, -1 = predicted) from none, one span for all, or one span (or null) per pair. */
export function answerTargets(target: AnswerOptions["target"], encodings: PairEncoding[]): [number, number][] {
  const isSpan = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x));
  const count = encodings.length;
  const spans = target === undefined || isSpan(target) ? new Array(count).fill(target ?? null) : [...target];
  if (spans.length !== count) throw new UserError(`${spans.length} answer spans were given for ${count} pairs; give one per pair`);
  return spans.map((span, index): [number, number] => {
    if (span === null || span === undefined) return [PREDICTED_TARGET, PREDICTED_TARGET];
    const tokens = encodings[index].ids.length;
    if (!isSpan(span) || !(0 <= span[0] && span[0] <= span[1] && span[1] < tokens)) {
      throw new UserError(
        `answer span ${JSON.stringify(span)} of pair ${index} is not (start token, end token) within its ${tokens} tokens; ` +
          "pass token indices of the pair's encoding, start <= end",
      );
    }
    return span;
  });
}

/** The `target` input of a question answering graph: [start, end] per example, each -1 or a token index. */
export function answerSpanTarget(target: [number, number][] | undefined, batch: number, tokens: number): [number, number][] {
  if (target === undefined) return Array.from({ length: batch }, (): [number, number] => [PREDICTED_TARGET, PREDICTED_TARGET]);
  const valid = (v: number) => Number.isInteger(v) && v >= PREDICTED_TARGET && v < tokens;
  if (target.length !== batch || target.some((span) => !Array.isArray(span) || span.length !== 2 || !span.every(valid))) {
    throw new UserError(
      `a question answering target holds the answer's start and end token per example ([batch, 2], each 0..${tokens - 1} ` +
        `or -1 for the predicted one), got ${JSON.stringify(target)}`,
    );
  }
  return target;
}

/** `inputIds` and `attentionMask` [batch][longest], right-padded with `padTokenId`. */
export function pad(encodings: Pick<TextEncoding, "ids">[], padTokenId: number): { inputIds: number[][]; attentionMask: number[][] } {
  const longest = Math.max(...encodings.map((e) => e.ids.length));
  return {
    inputIds: encodings.map((e) => [...e.ids, ...new Array<number>(longest - e.ids.length).fill(padTokenId)]),
    attentionMask: encodings.map((e) => [...e.ids.map(() => 1), ...new Array<number>(longest - e.ids.length).fill(0)]),
  };
}
