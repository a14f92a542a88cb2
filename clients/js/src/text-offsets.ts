/**
 * Character offsets: the artifact contract (and Python) counts Unicode code points; JavaScript strings index
 * UTF-16 code units, in which an astral character (emoji, CJK extension B and beyond) takes two. Spans in
 * results are code points, equal to Python's; these helpers convert for `String.prototype.slice`.
 */

/** The code points of `text`, one string each (an astral character is one element). */
export function codePoints(text: string): string[] {
  return Array.from(text);
}

/**
 * UTF-16 index of every code point boundary: `units[i]` is where code point `i` starts, and
 * `units[codePointCount]` is `text.length`.
 */
export function utf16Boundaries(text: string): number[] {
  const units = [0];
  let position = 0;
  for (const character of text) {
    position += character.length;
    units.push(position);
  }
  return units;
}

/** A code point span `[start, end)` of `text` as a UTF-16 span, for `text.slice(start, end)`. */
export function toUtf16Span(text: string, start: number, end: number): [number, number] {
  const units = utf16Boundaries(text);
  return [units[start], units[end]];
}

/** The part of `text` between code point offsets `start` and `end` (what Python's `text[start:end]` gives). */
export function sliceCodePoints(text: string, start: number, end: number): string {
  return codePoints(text).slice(start, end).join("");
}

/** Whitespace as Python's `str.isspace` sees it (so that "empty text" means the same in both runtimes). */
const PYTHON_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002,
  0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** True when `text` has no character other than whitespace (Python: `not text.strip()`). */
export function isBlank(text: string): boolean {
  for (const character of text) {
    if (!PYTHON_SPACE.has(character.codePointAt(0)!)) return false;
  }
  return true;
}
