/**
 * The explainer artifact as the JavaScript client reads it; the format is defined by the Python runtime
 * (`onnxplain/runtime/artifact.py`, docs/artifact-contract.md). A directory of:
 *
 *     model.onnx       the explain graph (weights inside)
 *     tokenizer.json   a Hugging Face tokenizers file
 *     manifest.json    labels, inputs, methods and their outputs, head mask, limits
 *
 * Versions 1 to 3 are read (3 describes each method, names the default one and records file hashes).
 * Version 1 gave `head_mask` an initializer default inside the graph, which onnxruntime-node ignores an
 * override of and onnxruntime-web refuses; this client removes that initializer from every graph it builds
 * and always feeds `head_mask` (the manifest's default unless overridden), so every version behaves as
 * version 2 prescribes.
 */
import { ArtifactError } from "./errors.js";
import { sha256Hex } from "./sha256.js";

export const READABLE_FORMAT_VERSIONS = [1, 2, 3] as const;
export const MODEL_FILE = "model.onnx";
export const TOKENIZER_FILE = "tokenizer.json";
export const MANIFEST_FILE = "manifest.json";
export const ARTIFACT_FILES = [MODEL_FILE, TOKENIZER_FILE, MANIFEST_FILE] as const;

export const INPUT_IDS = "input_ids";
export const ATTENTION_MASK = "attention_mask";
export const TOKEN_TYPE_IDS = "token_type_ids";
export const TARGET = "target";
export const HEAD_MASK = "head_mask";
export const LOGITS = "logits";
export const PREDICTED_TARGET = -1;

export const SEQUENCE_CLASSIFICATION = "sequence-classification";
export const QUESTION_ANSWERING = "question-answering";
export const CAUSAL_LM = "causal-lm";

/** Methods whose output reads the head mask, for manifests that do not say so per method. */
export const HEAD_MASKED_METHODS: ReadonlySet<string> = new Set(["mask-lrp", "mask-attnlrp", "mask-cp-lrp"]);

/** What the client needs to know of one method. */
export interface MethodRecord {
  name: string;
  output: string;
  readsHeadMask: boolean;
  description?: string;
}

export interface Manifest {
  formatVersion: number;
  architecture: string;
  task: string;
  labels: Map<number, string>;
  inputs: string[];
  methods: Map<string, MethodRecord>;
  defaultMethod: string;
  defaultHeadMask: number[][];
  maxLength: number;
  numLayers: number;
  numHeads: number;
  padTokenId: number;
  /** The manifest as written, for anything else a caller wants from it. */
  json: Record<string, unknown>;
}

type Json = Record<string, unknown>;

/**
 * Why `method` should be explained with the fp32 artifact instead, or undefined: a reduced-precision artifact
 * (manifest `precision` int8 or fp16) whose fidelity measurement marked the method not recommended. The same
 * sentence as the Python runtime's `Manifest.not_recommended`.
 */
export function notRecommended(manifest: Manifest, method: string): string | undefined {
  const precision = typeof manifest.json.precision === "string" ? manifest.json.precision : "fp32";
  const fidelity = (manifest.json.fidelity ?? {}) as Json;
  const measured = ((fidelity.methods ?? {}) as Json)[method] as Json | undefined;
  if (precision === "fp32" || !measured || measured.recommended !== false) return undefined;
  return (
    `${method} is not recommended on this ${precision} artifact: its relevance fell short of the fp32 ` +
    "artifact's on held-out texts (manifest fidelity); explain it with the fp32 artifact"
  );
}

function methodRecords(data: Json): Map<string, MethodRecord> {
  const methods = data.methods as Json;
  const records = new Map<string, MethodRecord>();
  for (const [name, entry] of Object.entries(methods)) {
    // a method maps to its output name (versions 1-2), or to a record that says more about it (version 3)
    const record = typeof entry === "string" ? { output: entry } : (entry as Json);
    if (typeof record.output !== "string") {
      throw new ArtifactError(`manifest.json gives method ${name} no output name; re-export the model`);
    }
    records.set(name, {
      name,
      output: record.output,
      readsHeadMask: typeof record.reads_head_mask === "boolean" ? record.reads_head_mask : HEAD_MASKED_METHODS.has(name),
      description: typeof record.description === "string" ? record.description : undefined,
    });
  }
  return records;
}

/** Validate a parsed manifest.json; every problem ends in one `ArtifactError`. */
export function readManifest(data: unknown, where = MANIFEST_FILE): Manifest {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ArtifactError(`${where} does not hold a JSON object; re-export the model`);
  }
  const json = data as Json;
  const version = json.format_version;
  if (!READABLE_FORMAT_VERSIONS.includes(version as 1 | 2 | 3)) {
    throw new ArtifactError(
      `artifact format version ${JSON.stringify(version ?? null)} is not supported by this onnxplain-js ` +
        `(it reads versions ${READABLE_FORMAT_VERSIONS.join(", ")}); re-export the model with a matching onnxplain`,
    );
  }
  for (const key of ["architecture", "task", "labels", "inputs", "methods", "head_mask", "max_length", "num_layers", "num_heads", "pad_token_id"]) {
    if (!(key in json)) throw new ArtifactError(`${where} lacks the required key '${key}'; re-export the model`);
  }
  const methods = methodRecords(json);
  const declaredDefault = typeof json.default_method === "string" ? json.default_method : undefined;
  const defaultMethod =
    declaredDefault !== undefined && methods.has(declaredDefault)
      ? declaredDefault
      : methods.has("mask-lrp")
        ? "mask-lrp"
        : [...methods.keys()][0];
  const headMask = json.head_mask as Json;
  return {
    formatVersion: version as number,
    architecture: String(json.architecture),
    task: String(json.task),
    labels: new Map(Object.entries(json.labels as Json).map(([index, name]) => [Number(index), String(name)])),
    inputs: (json.inputs as unknown[]).map(String),
    methods,
    defaultMethod,
    defaultHeadMask: headMask.default as number[][],
    maxLength: Number(json.max_length),
    numLayers: Number(json.num_layers),
    numHeads: Number(json.num_heads),
    padTokenId: Number(json.pad_token_id),
    json,
  };
}

/** Labels listed in an error (a language model's labels are its vocabulary). */
export const SHOWN_LABELS = 10;

/** Index of a label given by name (names first: a label may be called "1") or by index (digits allowed). */
export function labelIndex(manifest: Manifest, label: string | number): number | undefined {
  if (typeof label === "string") {
    for (const [index, name] of manifest.labels) if (name === label) return index; // the first index of a name
  }
  if ((typeof label === "number" && Number.isInteger(label)) || (typeof label === "string" && /^\d+$/.test(label))) {
    const index = Number(label);
    if (manifest.labels.has(index)) return index;
  }
  return undefined;
}

/** "0 (negative), 1 (positive)": the labels as the Python runtime lists them in errors (10 at most). */
export function knownLabels(manifest: Manifest): string {
  const sorted = [...manifest.labels.entries()].sort((a, b) => a[0] - b[0]);
  const shown = sorted.slice(0, SHOWN_LABELS).map(([index, name]) => `${index} (${name})`).join(", ");
  return shown + (sorted.length > SHOWN_LABELS ? `, … (${sorted.length} in all)` : "");
}

/** The three files of an artifact as bytes, before anything is parsed. */
export interface ArtifactBytes {
  model: Uint8Array;
  tokenizer: Uint8Array;
  manifest: Uint8Array;
}

function parseJsonBytes(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new ArtifactError(`${where} is not valid JSON (${(error as Error).message}); re-export the model`);
  }
}

/** SHA-256 of some bytes as 64 lowercase hex digits. */
export type Sha256 = (data: Uint8Array) => Promise<string>;

/**
 * Web Crypto's SHA-256 (browsers; Node 20+ has it too, though its own `node:crypto` hashes twice as fast). A page
 * that is not a secure context (plain http beyond localhost) has no `crypto.subtle`: it hashes in TypeScript.
 */
export const webCryptoSha256: Sha256 = async (data) => {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) return sha256Hex(data);
  const digest = await subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
};

/**
 * Check the files against the manifest's `files` records (format 3: size, then sha256), as the artifact
 * contract asks of every consumer and the Python runtime does at load. `where(name)` says where a file came
 * from (a path, a URL, a picked file's name) in the error. Versions 1 and 2 record no hashes: nothing to check.
 */
export async function verifyArtifactFiles(
  manifest: unknown,
  bytes: ArtifactBytes,
  where: (name: string) => string,
  sha256: Sha256 = webCryptoSha256,
): Promise<void> {
  const files = (manifest as Json | null)?.files;
  if (files === undefined || files === null) return;
  if (typeof files !== "object" || Array.isArray(files)) {
    throw new ArtifactError(`${where(MANIFEST_FILE)} has a 'files' entry that is not an object of file records; re-export the model`);
  }
  const loaded: Record<string, Uint8Array> = { [MODEL_FILE]: bytes.model, [TOKENIZER_FILE]: bytes.tokenizer };
  for (const [name, record] of Object.entries(files as Json)) {
    const { bytes: size, sha256: recorded } = (record ?? {}) as Json;
    if (typeof size !== "number" || typeof recorded !== "string" || !/^[0-9a-f]{64}$/.test(recorded)) {
      throw new ArtifactError(
        `${where(MANIFEST_FILE)} records ${name} without its size in bytes and its sha256 (64 hex digits); re-export the model`,
      );
    }
    const data = loaded[name];
    if (data === undefined) {
      throw new ArtifactError(
        `this artifact keeps part of itself in ${name}, which onnxplain-js does not load (it reads ${MODEL_FILE} with ` +
          `its weights inside); re-export the model without external data`,
      );
    }
    if (data.byteLength !== size) {
      throw new ArtifactError(
        `${where(name)} holds ${data.byteLength} bytes where the manifest records ${size}: it is truncated or was ` +
          "replaced; copy the artifact again or re-export it",
      );
    }
    if ((await sha256(data)) !== recorded) {
      throw new ArtifactError(
        `${where(name)} is not the file that was exported (its sha256 differs from the manifest's): it was ` +
          "altered or damaged; copy the artifact again or re-export it",
      );
    }
  }
}

/** Parse an artifact's files and check them against its manifest: what `Explainer.fromParts` takes. */
export async function readArtifactBytes(
  bytes: ArtifactBytes,
  where: (name: string) => string,
  sha256: Sha256 = webCryptoSha256,
): Promise<{ model: Uint8Array; tokenizer: unknown; manifest: unknown }> {
  const manifest = parseJsonBytes(bytes.manifest, where(MANIFEST_FILE));
  await verifyArtifactFiles(manifest, bytes, where, sha256);
  return { model: bytes.model, tokenizer: parseJsonBytes(bytes.tokenizer, where(TOKENIZER_FILE)), manifest };
}
