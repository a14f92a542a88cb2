/**
 * The WordPiece model: each word becomes the longest vocabulary entries that cover it, left to right
 * (pieces after the first carry the continuing prefix, "##"); a word that cannot be covered, or is longer
 * than `max_input_chars_per_word` characters, becomes the unknown token as a whole.
 */
import type { NormalizedChar } from "./normalizer.js";

export interface WordPieceConfig {
  vocab: Record<string, number>;
  unk_token: string;
  continuing_subword_prefix?: string;
  max_input_chars_per_word?: number;
}

/** A token of a word: its vocabulary entry and id, and the character range `[first, last)` of the word. */
export interface Piece {
  id: number;
  value: string;
  first: number;
  last: number;
}

export class WordPiece {
  private readonly vocab: Map<string, number>;
  private readonly unkToken: string;
  private readonly unkId: number;
  private readonly prefix: string;
  private readonly maxChars: number;

  constructor(config: WordPieceConfig, problem: (sentence: string) => Error) {
    this.vocab = new Map(Object.entries(config.vocab));
    this.unkToken = config.unk_token;
    const unkId = this.vocab.get(this.unkToken);
    if (unkId === undefined) throw problem(`its unknown token ${JSON.stringify(this.unkToken)} is not in the vocabulary`);
    this.unkId = unkId;
    this.prefix = config.continuing_subword_prefix ?? "##";
    this.maxChars = config.max_input_chars_per_word ?? 100;
  }

  idOf(token: string): number | undefined {
    return this.vocab.get(token);
  }

  tokenize(word: NormalizedChar[]): Piece[] {
    const chars = word.map((c) => String.fromCodePoint(c.codePoint));
    const unknown = [{ id: this.unkId, value: this.unkToken, first: 0, last: chars.length }];
    if (chars.length > this.maxChars) return unknown;
    const pieces: Piece[] = [];
    let start = 0;
    while (start < chars.length) {
      let found: Piece | null = null;
      for (let end = chars.length; end > start; end--) {
        const value = (start > 0 ? this.prefix : "") + chars.slice(start, end).join("");
        const id = this.vocab.get(value);
        if (id !== undefined) {
          found = { id, value, first: start, last: end };
          break;
        }
      }
      if (found === null) return unknown;
      pieces.push(found);
      start = found.last;
    }
    return pieces;
  }
}
