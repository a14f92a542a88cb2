/**
 * JSON text exactly as Python's `json.dumps(value, ensure_ascii=False, indent=2)` writes it, so that
 * `onnxplain-js explain` prints what `onnxplain explain --format json` prints. Two things differ from
 * `JSON.stringify`: Python writes a float with a decimal point or an exponent (`0.0`, `1e-05`, `1.5e+16`)
 * where JavaScript writes `0`, `0.00001`, `15000000000000000`; and NaN/Infinity are written, not nulled.
 * Which numbers are floats is said by `isFloat(key, parentKey)`; the rest are written as integers.
 */

/** Python's `repr(float)`: the shortest digits that round-trip, in Python's choice of notation. */
export function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const [mantissa, exponentText] = value.toExponential().split("e");
  const exponent = Number(exponentText);
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (exponent < -4 || exponent >= 16) {
    const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const power = Math.abs(exponent).toString().padStart(2, "0");
    return `${sign}${body}e${exponent < 0 ? "-" : "+"}${power}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction || "0"}`;
}

export type FloatRule = (key: string, parentKey: string | null) => boolean;

/** Floats of explanation JSON: every `relevance`, and the values of `probabilities`. */
export const explanationFloats: FloatRule = (key, parentKey) => key === "relevance" || parentKey === "probabilities";

export function pythonJson(value: unknown, isFloat: FloatRule = explanationFloats, indent = 2): string {
  const write = (item: unknown, key: string, parentKey: string | null, depth: number): string => {
    const pad = " ".repeat(indent * (depth + 1));
    const closing = " ".repeat(indent * depth);
    if (item !== null && typeof item === "object" && typeof (item as { toPythonJson?: unknown }).toPythonJson === "function") {
      item = (item as { toPythonJson: () => unknown }).toPythonJson();
    } else if (item !== null && typeof item === "object" && typeof (item as { toJSON?: unknown }).toJSON === "function") {
      item = (item as { toJSON: () => unknown }).toJSON();
    }
    if (typeof item === "number") {
      if (isFloat(key, parentKey)) return pythonFloat(item);
      if (!Number.isInteger(item)) throw new Error(`the number ${item} under '${key}' is not an integer`);
      return String(item);
    }
    if (item === null || item === undefined) return "null";
    if (typeof item === "boolean") return item ? "true" : "false";
    if (typeof item === "string") return JSON.stringify(item);
    if (Array.isArray(item)) {
      if (item.length === 0) return "[]";
      return `[\n${item.map((v) => pad + write(v, key, parentKey, depth + 1)).join(",\n")}\n${closing}]`;
    }
    // a Map is an object whose keys keep their order (JavaScript objects list integer-like keys first)
    const entries = item instanceof Map ? [...item.entries()] : Object.entries(item as Record<string, unknown>);
    if (entries.length === 0) return "{}";
    const body = entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${write(v, k, key, depth + 1)}`);
    return `{\n${body.join(",\n")}\n${closing}}`;
  };
  return write(value, "", null, 0);
}

/** The document that `onnxplain explain --format json` prints: `{"results": [...]}` and a newline. */
export function renderJson(results: unknown[]): string {
  return pythonJson({ results }) + "\n";
}
