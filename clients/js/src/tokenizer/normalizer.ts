/**
 * The BERT normalizer of Hugging Face tokenizers, keeping for every normalized character the span of the
 * original character it came from (in code points), so that token offsets point into the original text.
 *
 * Steps, in the library's order: clean (drop control and format characters, turn whitespace into a space),
 * put spaces around CJK ideographs, strip accents (canonical decomposition, then drop non-spacing marks),
 * lowercase. Every step maps one character to zero or more characters, so each is a per-character table,
 * read off the Python library (scripts/unicode_tables.py), never the JavaScript engine's Unicode data.
 */
import { CodePointSet, replacementMap } from "./code-point-tables.js";
import {
  CHINESE,
  CLEAN_REMOVED,
  CLEAN_WHITESPACE,
  LOWER_MAP,
  STRIP_MAP,
  STRIP_REMOVED,
} from "./unicode-tables.js";

/** One character of the normalized text and the code point span `[start, end)` of its original. */
export interface NormalizedChar {
  codePoint: number;
  start: number;
  end: number;
}

export interface BertNormalizerConfig {
  clean_text?: boolean;
  handle_chinese_chars?: boolean;
  strip_accents?: boolean | null;
  lowercase?: boolean;
}

const cleanRemoved = new CodePointSet(CLEAN_REMOVED);
const cleanWhitespace = new CodePointSet(CLEAN_WHITESPACE);
const chinese = new CodePointSet(CHINESE);
const stripRemoved = new CodePointSet(STRIP_REMOVED);
const stripMap = replacementMap(STRIP_MAP);
const lowerMap = replacementMap(LOWER_MAP);
const SPACE = 0x20;
const HANGUL_FIRST = 0xac00;
const HANGUL_LAST = 0xd7a3;

/** Canonical decomposition of a Hangul syllable into its jamo (Unicode section 3.12). */
function hangulJamo(codePoint: number): number[] {
  const index = codePoint - HANGUL_FIRST;
  const jamo = [0x1100 + Math.floor(index / 588), 0x1161 + Math.floor((index % 588) / 28)];
  if (index % 28 !== 0) jamo.push(0x11a7 + (index % 28));
  return jamo;
}

function replaced(chars: NormalizedChar[], map: (c: NormalizedChar) => number[] | null): NormalizedChar[] {
  const out: NormalizedChar[] = [];
  for (const c of chars) {
    const replacement = map(c);
    if (replacement === null) out.push(c);
    else for (const codePoint of replacement) out.push({ codePoint, start: c.start, end: c.end });
  }
  return out;
}

function fromString(text: string): number[] {
  return Array.from(text, (character) => character.codePointAt(0)!);
}

export class BertNormalizer {
  private readonly cleanText: boolean;
  private readonly handleChineseChars: boolean;
  private readonly stripAccents: boolean;
  private readonly lowercase: boolean;

  constructor(config: BertNormalizerConfig) {
    this.cleanText = config.clean_text ?? true;
    this.handleChineseChars = config.handle_chinese_chars ?? true;
    this.lowercase = config.lowercase ?? true;
    this.stripAccents = config.strip_accents ?? this.lowercase; // the library's default: strip when lowercasing
  }

  normalize(chars: NormalizedChar[]): NormalizedChar[] {
    let out = chars;
    if (this.cleanText) {
      out = replaced(out, (c) =>
        cleanRemoved.has(c.codePoint) ? [] : cleanWhitespace.has(c.codePoint) ? [SPACE] : null,
      );
    }
    if (this.handleChineseChars) {
      out = replaced(out, (c) => (chinese.has(c.codePoint) ? [SPACE, c.codePoint, SPACE] : null));
    }
    if (this.stripAccents) {
      out = replaced(out, (c) => {
        if (stripRemoved.has(c.codePoint)) return [];
        if (c.codePoint >= HANGUL_FIRST && c.codePoint <= HANGUL_LAST) return hangulJamo(c.codePoint);
        const replacement = stripMap.get(c.codePoint);
        return replacement === undefined ? null : fromString(replacement);
      });
    }
    if (this.lowercase) {
      out = replaced(out, (c) => {
        const replacement = lowerMap.get(c.codePoint);
        return replacement === undefined ? null : fromString(replacement);
      });
    }
    return out;
  }
}
