// Where the Python goldens are (written by `pytest tests/test_js_golden.py`), and how to read them.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const GOLDEN_DIR = process.env.ONNXPLAIN_JS_GOLDEN ?? join(dirname(fileURLToPath(import.meta.url)), "..", "golden");

export function readGolden(name = "golden.json") {
  const path = join(GOLDEN_DIR, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing; write the goldens first: python -m pytest tests/test_js_golden.py (from the repository root)`);
  }
  return JSON.parse(readFileSync(path, "utf-8"));
}
