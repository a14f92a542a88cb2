/**
 * Text to token ids with character offsets, as the Python runtime's `tokenization` module gives them:
 *
 * - `offsets[i]` is the span `[start, end)` of token `i` in the original text, in code points (Python's
 *   characters); `utf16Offsets` gives the same spans in UTF-16 units, for `text.slice`.
 * - Special tokens cover no text: their span is empty and sits at the end of the token before them
 *   (0 for a leading one); `special[i]` marks them (special tokens typed in the text are not special).
 * - `wordIds[i]` numbers the pre-tokenizer's words (punctuation is a word of its own); `null` for special
 *   tokens. Texts longer than `maxLength` tokens (special tokens included) are cut; `truncated` says so.
 */
import type { RawEncoding, Tokenizer } from "./tokenizer/tokenizer.js";
import { utf16Boundaries } from "./text-offsets.js";

export interface TextEncoding {
  text: string;
  ids: number[];
  tokens: string[];
  offsets: [number, number][];
  special: boolean[];
  wordIds: (number | null)[];
  truncated: boolean;
}

/** Python's convention for the span of a special token: empty, at the end of the token before it. */
export function placeSpecialTokens(encoding: RawEncoding): [number, number][] {
  const offsets: [number, number][] = [];
  encoding.offsets.forEach(([start, end], i) => {
    if (encoding.special[i]) {
      const position = offsets.length > 0 ? offsets[offsets.length - 1][1] : 0;
      offsets.push([position, position]);
    } else {
      offsets.push([start, end]);
    }
  });
  return offsets;
}

export function encodeText(tokenizer: Tokenizer, text: string, maxLength: number): TextEncoding {
  const raw = tokenizer.encode(text, maxLength);
  return {
    text,
    ids: raw.ids,
    tokens: raw.tokens,
    offsets: placeSpecialTokens(raw),
    special: raw.special,
    wordIds: raw.wordIds,
    truncated: raw.truncated,
  };
}

/** The code point spans of an encoding as UTF-16 spans of its text (for `text.slice(start, end)`). */
export function utf16Offsets(encoding: Pick<TextEncoding, "text" | "offsets">): [number, number][] {
  const units = utf16Boundaries(encoding.text);
  return encoding.offsets.map(([start, end]) => [units[start], units[end]]);
}
