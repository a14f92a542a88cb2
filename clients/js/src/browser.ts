/**
 * onnxplain in a browser: load an artifact from URLs (same origin) or from picked files and explain text
 * with onnxruntime-web's WASM backend. Everything runs in the page; nothing is sent anywhere.
 *
 *     import { loadExplainerFromUrl } from "onnxplain/browser";
 *     const explainer = await loadExplainerFromUrl("artifact/");
 *     const [result] = await explainer.explain("A gripping, beautifully shot film.");
 */
import * as ort from "onnxruntime-web/wasm";
import { ARTIFACT_FILES, MANIFEST_FILE, MODEL_FILE, readArtifactBytes, TOKENIZER_FILE } from "./artifact.js";
import { ArtifactError } from "./errors.js";
import { Explainer, type LoadOptions } from "./explainer.js";
import type { OrtBinding } from "./sessions.js";

export interface BrowserLoadOptions extends LoadOptions {
  /** Where onnxruntime-web's .wasm/.mjs files are served (default: beside the page). */
  wasmPaths?: string;
}

function configure(options: BrowserLoadOptions): LoadOptions {
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
  // threads need a cross-origin isolated page; without it onnxruntime-web runs on one thread
  if (!globalThis.crossOriginIsolated) ort.env.wasm.numThreads = 1;
  return { device: "wasm", executionProviders: ["wasm"], ...options };
}

/** Load the artifact whose three files are under `baseUrl` (e.g. "artifact/"). */
export async function loadExplainerFromUrl(baseUrl: string, options: BrowserLoadOptions = {}): Promise<Explainer> {
  const base = new URL(baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`, globalThis.location?.href);
  const fetchFile = async (name: string): Promise<Response> => {
    const response = await fetch(new URL(name, base));
    if (!response.ok) {
      throw new ArtifactError(`${base.href} has no ${name} (HTTP ${response.status}); it is not a complete onnxplain artifact, re-export it`);
    }
    return response;
  };
  const read = async (name: string) => new Uint8Array(await (await fetchFile(name)).arrayBuffer());
  const [manifest, tokenizer, model] = await Promise.all([read(MANIFEST_FILE), read(TOKENIZER_FILE), read(MODEL_FILE)]);
  const parts = await readArtifactBytes({ manifest, tokenizer, model }, (name) => new URL(name, base).href);
  return Explainer.fromParts(parts, ort as unknown as OrtBinding, configure(options));
}

/** Load an artifact from picked files (an `<input type="file" multiple>` with its three files). */
export async function loadExplainerFromFiles(files: Iterable<File>, options: BrowserLoadOptions = {}): Promise<Explainer> {
  const byName = new Map([...files].map((file) => [file.name, file]));
  for (const name of ARTIFACT_FILES) {
    if (!byName.has(name)) throw new ArtifactError(`the picked files have no ${name}; pick model.onnx, tokenizer.json and manifest.json together`);
  }
  const read = async (name: string) => new Uint8Array(await byName.get(name)!.arrayBuffer());
  const parts = await readArtifactBytes(
    { manifest: await read(MANIFEST_FILE), tokenizer: await read(TOKENIZER_FILE), model: await read(MODEL_FILE) },
    (name) => `the picked ${name}`,
  );
  return Explainer.fromParts(parts, ort as unknown as OrtBinding, configure(options));
}

export * from "./index.js";
