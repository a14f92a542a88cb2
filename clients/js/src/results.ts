/**
 * The result of explaining one text, whose `toJSON()` is the Python runtime's `Explanation.to_json()`.
 *
 * Word relevance is the sum of the relevance of the word's sub-word tokens; a word's span runs from its first
 * token's start to its last token's end. Spans count code points (as Python's do); `utf16Span` converts one
 * for `text.slice`. Special tokens are listed among the tokens (empty span, `special: true`) and are never
 * part of a word.
 */
import { codePoints, utf16Boundaries } from "./text-offsets.js";
import type { TextEncoding } from "./tokenization.js";

export interface Token {
  /** The token as the tokenizer spells it, e.g. "##ly" or "[CLS]". */
  text: string;
  start: number;
  end: number;
  relevance: number;
  special: boolean;
}

export interface Word {
  /** The word as written in the input text. */
  text: string;
  start: number;
  end: number;
  relevance: number;
  tokenIndices: number[];
}

export type Metadata = Record<string, string | number>;

export interface ExplanationJson {
  text: string;
  method: string;
  label: string;
  target: string;
  probabilities: Record<string, number>;
  tokens: { text: string; start: number; end: number; relevance: number; special: boolean }[];
  words: { text: string; start: number; end: number; relevance: number; tokens: number[] }[];
  truncated: boolean;
  warnings: string[];
  metadata: Metadata;
}

/**
 * One explained text. `label` is the predicted label, `target` the one whose relevance is shown.
 * `probabilities` is keyed by label in label order, except that a JavaScript object lists integer-like keys
 * ("0", "7") first whatever the order; `probabilityList` and the printed JSON (`renderJson`) keep label order.
 */
export class Explanation {
  readonly probabilities: Record<string, number>;

  constructor(
    readonly text: string,
    readonly method: string,
    readonly label: string,
    readonly target: string,
    readonly probabilityList: [string, number][],
    readonly tokens: Token[],
    readonly words: Word[],
    readonly truncated: boolean,
    readonly warnings: string[],
    readonly metadata: Metadata,
  ) {
    this.probabilities = Object.fromEntries(probabilityList);
  }

  /** Per-token relevance in token order, special tokens included. */
  get relevance(): Float32Array {
    return Float32Array.from(this.tokens, (t) => t.relevance);
  }

  /** A code point span of this text as a UTF-16 span, so that `text.slice(...span)` is the spanned text. */
  utf16Span(span: { start: number; end: number }): [number, number] {
    const units = utf16Boundaries(this.text);
    return [units[span.start], units[span.end]];
  }

  toJSON(): ExplanationJson {
    return { ...this.toPythonJson(), probabilities: { ...this.probabilities } };
  }

  /** `toJSON()` with the probabilities as a Map in label order, for `pythonJson`. */
  toPythonJson(): Omit<ExplanationJson, "probabilities"> & { probabilities: Map<string, number> } {
    return {
      text: this.text,
      method: this.method,
      label: this.label,
      target: this.target,
      probabilities: new Map(this.probabilityList),
      tokens: this.tokens.map((t) => ({ text: t.text, start: t.start, end: t.end, relevance: t.relevance, special: t.special })),
      words: this.words.map((w) => ({ text: w.text, start: w.start, end: w.end, relevance: w.relevance, tokens: [...w.tokenIndices] })),
      truncated: this.truncated,
      warnings: [...this.warnings],
      metadata: { ...this.metadata },
    };
  }
}

/**
 * Words of `text` from the `included` tokens: consecutive tokens with the same word id form one word, whose
 * relevance is the sum of theirs; an excluded token ends the current word.
 */
export function groupWords(
  text: string,
  offsets: [number, number][],
  wordIds: (number | null)[],
  included: boolean[],
  relevance: ArrayLike<number>,
): Word[] {
  const groups: number[][] = [];
  let previous: number | null = null;
  wordIds.forEach((wordId, index) => {
    if (!included[index]) {
      previous = null;
      return;
    }
    if (wordId === null || wordId !== previous || groups.length === 0) groups.push([index]);
    else groups[groups.length - 1].push(index);
    previous = wordId;
  });
  const characters = codePoints(text);
  return groups.map((indices) => {
    const start = Math.min(...indices.map((i) => offsets[i][0]));
    const end = Math.max(...indices.map((i) => offsets[i][1]));
    let total = 0;
    for (const i of indices) total += relevance[i];
    return { text: characters.slice(start, end).join(""), start, end, relevance: total, tokenIndices: indices };
  });
}

/** Softmax as the Python runtime computes it: the shift in float32, the exponentials in float64. */
export function softmax(logits: ArrayLike<number>): number[] {
  const values = Array.from(logits);
  const largest = Math.max(...values);
  const exps = values.map((v) => Math.exp(Math.fround(v - largest)));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Assemble the result of one text from its encoding, its relevance row and its logits row. */
export function explanation(
  encoding: TextEncoding,
  relevanceRow: ArrayLike<number>,
  logitsRow: ArrayLike<number>,
  target: number,
  method: string,
  labels: Map<number, string>,
  metadata: Metadata,
): Explanation {
  const relevance = Array.from(relevanceRow).slice(0, encoding.ids.length);
  const probabilities = softmax(logitsRow);
  const predicted = argmax(logitsRow);
  const explained = target < 0 ? predicted : target;
  const warnings: string[] = [];
  if (encoding.truncated) {
    const end = Math.max(0, ...encoding.offsets.map(([, e]) => e));
    warnings.push(
      `the text is longer than the limit of ${encoding.ids.length} tokens and was cut after character ${end}; ` +
        "only that part is explained",
    );
  }
  const tokens = encoding.tokens.map((text, i) => ({
    text,
    start: encoding.offsets[i][0],
    end: encoding.offsets[i][1],
    relevance: relevance[i],
    special: encoding.special[i],
  }));
  const included = encoding.special.map((s) => !s);
  return new Explanation(
    encoding.text,
    method,
    labels.get(predicted)!,
    labels.get(explained)!,
    probabilities.map((p, i): [string, number] => [labels.get(i)!, p]),
    tokens,
    groupWords(encoding.text, encoding.offsets, encoding.wordIds, included, relevance),
    encoding.truncated,
    warnings,
    { ...metadata },
  );
}
