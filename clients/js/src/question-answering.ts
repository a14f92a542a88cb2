/**
 * Explaining extractive question answering artifacts (`manifest.task == "question-answering"`), the twin of
 * the Python runtime's `question_answering` module: a question + context pair is one input (token type 0
 * for the question, 1 for the context), `target` is [batch, 2] (answer start and end token, -1 = predicted:
 * the argmax of the start and of the end logits), `logits` are [batch, sequence, 2], and each relevance
 * explains the start logit at the answer start plus the end logit at the answer end. Results' JSON is
 * Python's `AnswerExplanation.to_json()`; offsets are code points of the question or of the context.
 */
import { UserError } from "./errors.js";
import { argmax, groupWords, type Token, type Word } from "./results.js";
import { codePoints, isBlank } from "./text-offsets.js";
import type { Tokenizer } from "./tokenizer/tokenizer.js";

export const QUESTION_SEGMENT = 0;
export const CONTEXT_SEGMENT = 1;

export interface PairEncoding {
  ids: number[];
  typeIds: number[];
  tokens: string[];
  /** Spans into the question (segment 0) or the context (segment 1); special tokens [0, 0]. */
  offsets: [number, number][];
  segments: (number | null)[];
  wordIds: (number | null)[];
  truncated: boolean;
}

/** A question and its context. */
export type Pair = [question: string, context: string];

/** The pairs as given; one clear `UserError` for a missing, non-string or empty question or context. */
export function checkPairs(pairs: unknown[]): Pair[] {
  if (pairs.length === 0) throw new UserError("no question to explain; give at least one (question, context) pair");
  pairs.forEach((pair, index) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new UserError(`input ${index} is not a (question, context) pair; a question answering model explains pairs`);
    }
    for (const [name, value] of [["question", pair[0]], ["context", pair[1]]] as const) {
      if (typeof value !== "string") throw new UserError(`${name} ${index} is a ${typeof value}, not a string; pass strings`);
      if (isBlank(value)) throw new UserError(`${name} ${index} is empty; give each question and context at least one word`);
    }
  });
  return pairs as Pair[];
}

/** Tokenize pairs; contexts longer than `maxLength` allows are cut, never questions. */
export function encodePairs(tokenizer: Tokenizer, pairs: Pair[], maxLength: number): PairEncoding[] {
  return checkPairs(pairs).map(([question, context], index) => {
    const raw = tokenizer.encodePair(question, context, maxLength);
    if (raw === null) {
      throw new UserError(`question ${index} leaves no room for its context within the limit of ${maxLength} tokens; shorten the question`);
    }
    return {
      ids: raw.ids, typeIds: raw.typeIds, tokens: raw.tokens, offsets: raw.offsets,
      segments: raw.sequenceIds, wordIds: raw.wordIds, truncated: raw.truncated,
    };
  });
}

export class AnswerExplanation {
  constructor(
    readonly question: string,
    readonly context: string,
    readonly method: string,
    readonly answer: string,
    readonly answerStart: number,
    readonly answerEnd: number,
    readonly startToken: number,
    readonly endToken: number,
    readonly tokens: Token[],
    readonly tokenSegments: (number | null)[],
    readonly questionWords: Word[],
    readonly contextWords: Word[],
    readonly truncated: boolean,
  ) {}

  get relevance(): Float32Array {
    return Float32Array.from(this.tokens, (t) => t.relevance);
  }

  toJSON(): Record<string, unknown> {
    const word = (w: Word) => ({ text: w.text, start: w.start, end: w.end, relevance: w.relevance, tokens: [...w.tokenIndices] });
    return {
      question: this.question,
      context: this.context,
      method: this.method,
      answer: this.answer,
      answer_start: this.answerStart,
      answer_end: this.answerEnd,
      start_token: this.startToken,
      end_token: this.endToken,
      tokens: this.tokens.map((t, i) => ({ text: t.text, start: t.start, end: t.end, relevance: t.relevance, special: t.special, segment: this.tokenSegments[i] })),
      question_words: this.questionWords.map(word),
      context_words: this.contextWords.map(word),
      truncated: this.truncated,
    };
  }
}

/** The predicted span: the argmax of the start logits and of the end logits (`logits` [tokens * 2]). */
export function predictedSpan(logits: ArrayLike<number>, length: number): [number, number] {
  const starts = Array.from({ length }, (_, i) => logits[2 * i]);
  const ends = Array.from({ length }, (_, i) => logits[2 * i + 1]);
  return [argmax(starts), argmax(ends)];
}

export function answerExplanation(
  question: string,
  context: string,
  method: string,
  encoding: PairEncoding,
  logits: ArrayLike<number>,
  relevanceRow: ArrayLike<number>,
  target: [number, number],
): AnswerExplanation {
  const length = encoding.ids.length;
  const relevance = Array.from(relevanceRow).slice(0, length);
  const predicted = predictedSpan(logits, length);
  const start = target[0] < 0 ? predicted[0] : target[0];
  const end = target[1] < 0 ? predicted[1] : target[1];
  const inContext: number[] = [];
  for (let i = start; i <= end; i++) if (encoding.segments[i] === CONTEXT_SEGMENT) inContext.push(i);
  const [answerStart, answerEnd] =
    inContext.length > 0 ? [encoding.offsets[inContext[0]][0], encoding.offsets[inContext[inContext.length - 1]][1]] : [0, 0];
  const tokens = encoding.tokens.map((text, i) => ({
    text, start: encoding.offsets[i][0], end: encoding.offsets[i][1], relevance: relevance[i], special: encoding.segments[i] === null,
  }));
  const words = (text: string, segment: number): Word[] =>
    groupWords(text, encoding.offsets, encoding.wordIds, encoding.segments.map((s) => s === segment), relevance);
  return new AnswerExplanation(
    question, context, method, codePoints(context).slice(answerStart, answerEnd).join(""), answerStart, answerEnd,
    start, end, tokens, encoding.segments, words(question, QUESTION_SEGMENT), words(context, CONTEXT_SEGMENT), encoding.truncated,
  );
}
