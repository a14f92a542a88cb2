/** Lookups over the generated tables of unicode-tables.ts: sets of code point ranges, and replacement maps. */

/** A set of code points given as flattened inclusive ranges `[first0, last0, first1, last1, ...]`. */
export class CodePointSet {
  private readonly bounds: readonly number[];

  constructor(ranges: readonly number[]) {
    this.bounds = ranges;
  }

  has(codePoint: number): boolean {
    let low = 0;
    let high = this.bounds.length / 2 - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (codePoint < this.bounds[2 * middle]) high = middle - 1;
      else if (codePoint > this.bounds[2 * middle + 1]) low = middle + 1;
      else return true;
    }
    return false;
  }
}

/** A map from code point to replacement string, from a flattened `[codePoint, replacement, ...]` table. */
export function replacementMap(table: readonly (number | string)[]): Map<number, string> {
  const map = new Map<number, string>();
  for (let i = 0; i < table.length; i += 2) map.set(table[i] as number, table[i + 1] as string);
  return map;
}
