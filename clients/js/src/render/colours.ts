/**
 * The heat-map colours of `onnxplain explain --format html`: a word's background is red (supports the
 * explained label) or blue (speaks against it), with an opacity of 0.75 times its relevance over the largest
 * absolute word relevance of its text.
 */
import type { Word } from "../results.js";

/** Signed intensity in [-1, 1] for each word: its relevance over the largest absolute word relevance. */
export function wordIntensities(words: Pick<Word, "relevance">[]): number[] {
  const largest = Math.max(0, ...words.map((w) => Math.abs(w.relevance)));
  return words.map((w) => (largest === 0 ? 0 : w.relevance / largest));
}

/** The CSS background of a word of signed intensity in [-1, 1]. */
export function heatColour(intensity: number): string {
  const rgb = intensity > 0 ? "220,38,38" : "37,99,235";
  return `rgba(${rgb},${(Math.abs(intensity) * 0.75).toFixed(3)})`;
}
