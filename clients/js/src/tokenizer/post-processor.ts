/**
 * Post-processors that wrap the tokens of one text (or of a pair) in special tokens: TemplateProcessing and
 * BertProcessing, the two that BERT-style tokenizer.json files use.
 */

/** One element of a template: a special token, or the tokens of sequence 0 (A) or 1 (B). */
export type TemplatePart =
  | { kind: "special"; ids: number[]; tokens: string[]; typeId: number }
  | { kind: "sequence"; sequence: 0 | 1; typeId: number };

export interface Template {
  single: TemplatePart[];
  pair: TemplatePart[];
}

interface TemplateJson {
  type: string;
  single?: Record<string, { id: string; type_id: number }>[];
  pair?: Record<string, { id: string; type_id: number }>[];
  special_tokens?: Record<string, { id: string; ids: number[]; tokens: string[] }>;
  cls?: [string, number];
  sep?: [string, number];
}

function templateParts(json: TemplateJson, pieces: TemplateJson["single"], problem: (s: string) => Error): TemplatePart[] {
  return (pieces ?? []).map((piece) => {
    if ("SpecialToken" in piece) {
      const { id, type_id } = piece.SpecialToken;
      const special = json.special_tokens?.[id];
      if (special === undefined) throw problem(`its post-processor names the undefined special token ${id}`);
      return { kind: "special", ids: special.ids, tokens: special.tokens, typeId: type_id };
    }
    if ("Sequence" in piece) {
      const { id, type_id } = piece.Sequence;
      return { kind: "sequence", sequence: id === "B" ? 1 : 0, typeId: type_id };
    }
    throw problem(`its post-processor template has an element ${JSON.stringify(piece)} that is not understood`);
  });
}

/** The template of a TemplateProcessing or BertProcessing post-processor; `null` when there is none. */
export function readTemplate(json: TemplateJson | null, problem: (s: string) => Error): Template | null {
  if (json === null) return null;
  if (json.type === "TemplateProcessing") {
    return { single: templateParts(json, json.single, problem), pair: templateParts(json, json.pair, problem) };
  }
  if (json.type === "BertProcessing" && json.cls && json.sep) {
    const cls = (typeId: number): TemplatePart => ({ kind: "special", ids: [json.cls![1]], tokens: [json.cls![0]], typeId });
    const sep = (typeId: number): TemplatePart => ({ kind: "special", ids: [json.sep![1]], tokens: [json.sep![0]], typeId });
    return {
      single: [cls(0), { kind: "sequence", sequence: 0, typeId: 0 }, sep(0)],
      pair: [cls(0), { kind: "sequence", sequence: 0, typeId: 0 }, sep(0), { kind: "sequence", sequence: 1, typeId: 1 }, sep(1)],
    };
  }
  throw problem(`it uses the ${json.type} post-processor`);
}

/** How many special tokens a template adds. */
export function addedTokens(parts: TemplatePart[]): number {
  return parts.reduce((count, part) => count + (part.kind === "special" ? part.ids.length : 0), 0);
}
