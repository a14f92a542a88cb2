/**
 * onnxplain for Node.js: load an artifact directory and explain texts with onnxruntime-node (CPU).
 *
 *     import { loadExplainer } from "onnxplain";
 *     const explainer = await loadExplainer("artifact/");
 *     const [result] = await explainer.explain("A gripping, beautifully shot film.", { method: "mask-lrp" });
 *     result.label, result.probabilities, result.words, JSON.stringify(result)   // = Python's to_json()
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { ARTIFACT_FILES, MANIFEST_FILE, MODEL_FILE, readArtifactBytes, TOKENIZER_FILE } from "./artifact.js";
import { ArtifactError } from "./errors.js";
import { Explainer, type LoadOptions } from "./explainer.js";
import type { OrtBinding } from "./sessions.js";

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/** Load the artifact in `directory` (written by `onnxplain export`) for explaining on the CPU. */
export async function loadExplainer(directory: string, options: LoadOptions = {}): Promise<Explainer> {
  const isDirectory = await stat(directory).then((s) => s.isDirectory(), () => false);
  if (!isDirectory) throw new ArtifactError(`${directory} is not a directory; pass the directory that \`onnxplain export\` wrote`);
  for (const name of ARTIFACT_FILES) {
    if (!(await isFile(join(directory, name)))) {
      throw new ArtifactError(`${directory} has no ${name}; it is not a complete onnxplain artifact, re-export it`);
    }
  }
  const read = async (name: string) => new Uint8Array(await readFile(join(directory, name)));
  const bytes = { manifest: await read(MANIFEST_FILE), tokenizer: await read(TOKENIZER_FILE), model: await read(MODEL_FILE) };
  const sha256 = async (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
  const parts = await readArtifactBytes(bytes, (name) => join(directory, name), sha256);
  return Explainer.fromParts(parts, ort as unknown as OrtBinding, { executionProviders: ["cpu"], ...options });
}

export * from "./index.js";
