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
import { ArtifactError, UserError } from "./errors.js";
import { Explainer, type LoadOptions } from "./explainer.js";
import type { OrtBinding } from "./sessions.js";

export interface BrowserLoadOptions extends LoadOptions {
  /** Where onnxruntime-web's .wasm/.mjs files are served (default: beside the page). */
  wasmPaths?: string;
  /** WASM threads for the sessions (default: onnxruntime-web's, which is one on a page that is not cross-origin
   * isolated). More than one needs a page served with `Cross-Origin-Opener-Policy: same-origin` and
   * `Cross-Origin-Embedder-Policy: require-corp`; onnxruntime-web reads it when it starts, at the first load. */
  wasmThreads?: number;
}

function configure(options: BrowserLoadOptions): LoadOptions {
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
  const { wasmThreads } = options;
  if (wasmThreads !== undefined && (!Number.isInteger(wasmThreads) || wasmThreads < 1)) {
    throw new UserError(`wasmThreads ${wasmThreads} is not a positive whole number; use 1 or more`);
  }
  if (!globalThis.crossOriginIsolated) {
    // threads need a cross-origin isolated page; without it onnxruntime-web runs on one thread
    if (wasmThreads !== undefined && wasmThreads > 1) {
      throw new UserError(
        `wasmThreads ${wasmThreads} needs a cross-origin isolated page, and this one is not: serve it with the headers ` +
          "Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp, or use one thread",
      );
    }
    ort.env.wasm.numThreads = 1;
  } else if (wasmThreads !== undefined) {
    ort.env.wasm.numThreads = wasmThreads;
  }
  return { device: "wasm", executionProviders: ["wasm"], ...options };
}

/** Load the artifact whose three files are under `baseUrl` (e.g. "artifact/"). */
export async function loadExplainerFromUrl(baseUrl: string, options: BrowserLoadOptions = {}): Promise<Explainer> {
  const loadOptions = configure(options); // a bad option is told before anything is downloaded
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
  return Explainer.fromParts(parts, ort as unknown as OrtBinding, loadOptions);
}

/** Load an artifact from picked files (an `<input type="file" multiple>` with its three files). */
export async function loadExplainerFromFiles(files: Iterable<File>, options: BrowserLoadOptions = {}): Promise<Explainer> {
  const loadOptions = configure(options);
  const byName = new Map([...files].map((file) => [file.name, file]));
  for (const name of ARTIFACT_FILES) {
    if (!byName.has(name)) throw new ArtifactError(`the picked files have no ${name}; pick model.onnx, tokenizer.json and manifest.json together`);
  }
  const read = async (name: string) => new Uint8Array(await byName.get(name)!.arrayBuffer());
  const parts = await readArtifactBytes(
    { manifest: await read(MANIFEST_FILE), tokenizer: await read(TOKENIZER_FILE), model: await read(MODEL_FILE) },
    (name) => `the picked ${name}`,
  );
  return Explainer.fromParts(parts, ort as unknown as OrtBinding, loadOptions);
}

export * from "./index.js";
