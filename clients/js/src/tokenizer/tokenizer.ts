/**
 * A tokenizer.json pipeline with exact ids and code point offsets, for the components that onnxplain's
 * artifacts use: added (special) tokens, the BERT normalizer, the BERT pre-tokenizer, the WordPiece model and
 * a TemplateProcessing or BertProcessing post-processor. Any other component is refused in one sentence.
 *
 * Padding never happens here; truncation is at the `maxLength` the caller gives (the manifest's), whatever
 * the file says, as in the Python runtime. Offsets count code points of the original text.
 */
import { UserError } from "../errors.js";
import { BertNormalizer, type BertNormalizerConfig, type NormalizedChar } from "./normalizer.js";
import { addedTokens, readTemplate, type Template, type TemplatePart } from "./post-processor.js";
import { bertPreTokenize } from "./pre-tokenizer.js";
import { WordPiece, type WordPieceConfig } from "./wordpiece.js";

/** A token of one text before post-processing. */
interface SequenceToken {
  id: number;
  value: string;
  start: number;
  end: number;
  wordId: number;
}

/** The tokenizer's output for one text or one pair, special tokens included (their span is [0, 0]). */
export interface RawEncoding {
  ids: number[];
  tokens: string[];
  offsets: [number, number][];
  special: boolean[];
  wordIds: (number | null)[];
  typeIds: number[];
  sequenceIds: (number | null)[];
  truncated: boolean;
}

interface AddedTokenJson {
  id: number;
  content: string;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  special?: boolean;
}

export interface TokenizerJson {
  added_tokens?: AddedTokenJson[];
  normalizer?: ({ type: string } & BertNormalizerConfig) | null;
  pre_tokenizer?: { type: string } | null;
  model: { type: string } & WordPieceConfig;
  post_processor?: Parameters<typeof readTemplate>[0];
}

function unsupported(sentence: string): UserError {
  return new UserError(
    `tokenizer.json cannot be read by onnxplain-js: ${sentence}; onnxplain-js implements WordPiece tokenizers ` +
      "with the BERT normalizer and pre-tokenizer, so explain this artifact from Python (onnxplain explain)",
  );
}

export class Tokenizer {
  private readonly added: AddedTokenJson[];
  private readonly normalizer: BertNormalizer | null;
  private readonly model: WordPiece;
  private readonly template: Template;

  constructor(json: TokenizerJson) {
    if (json.model?.type !== "WordPiece") throw unsupported(`it uses the ${json.model?.type} model`);
    const normalizer = json.normalizer ?? null;
    if (normalizer !== null && normalizer.type !== "BertNormalizer") {
      throw unsupported(`it uses the ${normalizer.type} normalizer`);
    }
    const pre = json.pre_tokenizer ?? null;
    if (pre === null || pre.type !== "BertPreTokenizer") {
      throw unsupported(`it uses the ${pre === null ? "absent" : pre.type} pre-tokenizer`);
    }
    this.added = [...(json.added_tokens ?? [])].sort((a, b) => b.content.length - a.content.length);
    for (const token of this.added) {
      if (token.single_word || token.lstrip || token.rstrip || token.normalized) {
        throw unsupported(`its added token ${JSON.stringify(token.content)} sets single_word, lstrip, rstrip or normalized`);
      }
    }
    this.normalizer = normalizer === null ? null : new BertNormalizer(normalizer);
    this.model = new WordPiece(json.model, unsupported);
    const template = readTemplate(json.post_processor ?? null, unsupported);
    if (template === null) throw unsupported("it has no post-processor (no [CLS] and [SEP])");
    this.template = template;
  }

  /** Special tokens that the post-processor adds around one text (`pair` = around a pair). */
  addedTokens(pair = false): number {
    return addedTokens(pair ? this.template.pair : this.template.single);
  }

  /** Tokenize one text, cut to `maxLength` tokens with the special tokens. */
  encode(text: string, maxLength: number): RawEncoding {
    const limit = maxLength - this.addedTokens(false);
    if (limit < 0) throw new UserError(`max length ${maxLength} leaves no room for the special tokens; raise it`);
    const tokens = this.sequence(text);
    return this.assemble(this.template.single, [tokens.slice(0, limit)], tokens.length > limit);
  }

  /** Tokenize a pair (question, context), cutting only the second text to fit `maxLength` tokens. */
  encodePair(first: string, second: string, maxLength: number): RawEncoding | null {
    const a = this.sequence(first);
    const b = this.sequence(second);
    const excess = a.length + b.length + this.addedTokens(true) - maxLength;
    if (excess > 0 && excess >= b.length) return null; // the first text alone leaves no room for the second
    const kept = excess > 0 ? b.slice(0, b.length - excess) : b;
    return this.assemble(this.template.pair, [a, kept], excess > 0);
  }

  /** Split `text` on the added tokens (leftmost, longest first), then normalize, pre-tokenize, WordPiece. */
  private sequence(text: string): SequenceToken[] {
    const chars = Array.from(text);
    const out: SequenceToken[] = [];
    let word = 0;
    let pieceStart = 0;
    const flush = (end: number): void => {
      if (end <= pieceStart) return;
      const original: NormalizedChar[] = [];
      for (let i = pieceStart; i < end; i++) original.push({ codePoint: chars[i].codePointAt(0)!, start: i, end: i + 1 });
      const normalized = this.normalizer === null ? original : this.normalizer.normalize(original);
      for (const letters of bertPreTokenize(normalized)) {
        for (const piece of this.model.tokenize(letters)) {
          const start = letters[piece.first].start;
          const end = letters[piece.last - 1].end;
          out.push({ id: piece.id, value: piece.value, start, end, wordId: word });
        }
        word += 1;
      }
    };
    let position = 0;
    while (position < chars.length) {
      const match = this.addedAt(chars, position);
      if (match === null) {
        position += 1;
        continue;
      }
      flush(position);
      const length = Array.from(match.content).length;
      out.push({ id: match.id, value: match.content, start: position, end: position + length, wordId: word });
      word += 1;
      position += length;
      pieceStart = position;
    }
    flush(chars.length);
    return out;
  }

  private addedAt(chars: string[], position: number): AddedTokenJson | null {
    for (const token of this.added) {
      const wanted = Array.from(token.content);
      if (wanted.length > 0 && wanted.every((c, i) => chars[position + i] === c)) return token;
    }
    return null;
  }

  private assemble(parts: TemplatePart[], sequences: SequenceToken[][], truncated: boolean): RawEncoding {
    const encoding: RawEncoding = {
      ids: [], tokens: [], offsets: [], special: [], wordIds: [], typeIds: [], sequenceIds: [], truncated,
    };
    for (const part of parts) {
      if (part.kind === "special") {
        part.ids.forEach((id, i) => {
          encoding.ids.push(id);
          encoding.tokens.push(part.tokens[i]);
          encoding.offsets.push([0, 0]);
          encoding.special.push(true);
          encoding.wordIds.push(null);
          encoding.typeIds.push(part.typeId);
          encoding.sequenceIds.push(null);
        });
        continue;
      }
      for (const token of sequences[part.sequence] ?? []) {
        encoding.ids.push(token.id);
        encoding.tokens.push(token.value);
        encoding.offsets.push([token.start, token.end]);
        encoding.special.push(false);
        encoding.wordIds.push(token.wordId);
        encoding.typeIds.push(part.typeId);
        encoding.sequenceIds.push(part.sequence);
      }
    }
    return encoding;
  }
}
