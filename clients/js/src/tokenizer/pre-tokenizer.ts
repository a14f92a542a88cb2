/**
 * The BERT pre-tokenizer: split on whitespace (dropped) and on punctuation (each mark a word of its own).
 * Character classes are the tokenizers library's (see unicode-tables.ts).
 */
import { CodePointSet } from "./code-point-tables.js";
import type { NormalizedChar } from "./normalizer.js";
import { SPLIT_PUNCTUATION, SPLIT_WHITESPACE } from "./unicode-tables.js";

const whitespace = new CodePointSet(SPLIT_WHITESPACE);
const punctuation = new CodePointSet(SPLIT_PUNCTUATION);

/** The words of a normalized text, in order; none is empty. */
export function bertPreTokenize(chars: NormalizedChar[]): NormalizedChar[][] {
  const words: NormalizedChar[][] = [];
  let current: NormalizedChar[] = [];
  const flush = (): void => {
    if (current.length > 0) words.push(current);
    current = [];
  };
  for (const c of chars) {
    if (whitespace.has(c.codePoint)) {
      flush();
    } else if (punctuation.has(c.codePoint)) {
      flush();
      words.push([c]);
    } else {
      current.push(c);
    }
  }
  flush();
  return words;
}
