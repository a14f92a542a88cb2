/**
 * ONNX Runtime sessions of one artifact: one per set of outputs, each built from the graph pruned to those
 * outputs (see pruning.ts), least recently used dropped beyond `size`. Works with onnxruntime-node and
 * onnxruntime-web alike (both implement onnxruntime-common's API).
 */
import type { InferenceSession, Tensor } from "onnxruntime-common";
import { HEAD_MASK } from "./artifact.js";
import { UserError } from "./errors.js";
import { PrunableModel } from "./pruning.js";

/** The parts of an ONNX Runtime binding that the client uses. */
export interface OrtBinding {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: new (type: "int64" | "float32", data: BigInt64Array | Float32Array, dims: readonly number[]) => Tensor;
}

export interface SessionOptions {
  /** Threads of one ONNX Runtime call (0 or undefined: its default). */
  intraOpThreads?: number;
  /** ONNX Runtime's intra-op threads spin between operators instead of sleeping (default false): lower latency
   * with two or more threads on cores that nothing else needs, CPU burnt while they wait. */
  intraOpSpinning?: boolean;
  /** Execution providers, e.g. ["cpu"] in Node, ["wasm"] in a browser. */
  executionProviders?: string[];
}

export class SessionPool {
  private readonly model: PrunableModel;
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  /** Nodes of each built graph, by output set (for tests and benchmarks). */
  readonly nodeCounts = new Map<string, number>();

  constructor(
    modelBytes: Uint8Array,
    readonly ort: OrtBinding,
    private readonly options: SessionOptions = {},
    private readonly size = 4,
  ) {
    this.model = new PrunableModel(modelBytes);
  }

  get outputNames(): string[] {
    return this.model.outputNames;
  }

  /** The session computing exactly `outputs`, built on first use. */
  session(outputs: string[]): Promise<InferenceSession> {
    const unknown = outputs.filter((o) => !this.model.outputNames.includes(o));
    if (unknown.length > 0) {
      throw new UserError(`the artifact's graph has no output ${unknown.sort().join(", ")}; re-export the model`);
    }
    const key = [...new Set(outputs)].sort().join("\n");
    const cached = this.sessions.get(key);
    if (cached !== undefined) {
      this.sessions.delete(key); // re-insert: the map's order is least recently used first
      this.sessions.set(key, cached);
      return cached;
    }
    const built = this.build(key.split("\n"), key);
    this.sessions.set(key, built);
    built.catch(() => this.sessions.delete(key));
    while (this.sessions.size > this.size) {
      const [oldest, session] = this.sessions.entries().next().value as [string, Promise<InferenceSession>];
      this.sessions.delete(oldest);
      session.then((s) => s.release()).catch(() => undefined);
    }
    return built;
  }

  private async build(outputs: string[], key: string): Promise<InferenceSession> {
    // head_mask: always a required input (a version 1 artifact's initializer default is dropped)
    const { bytes, nodeCount } = this.model.prune(outputs, new Set([HEAD_MASK]));
    this.nodeCounts.set(key, nodeCount);
    const options: InferenceSession.SessionOptions = {
      logSeverityLevel: 3,
      graphOptimizationLevel: "all",
      extra: { session: { intra_op: { allow_spinning: this.options.intraOpSpinning ? "1" : "0" } } },
    };
    if (this.options.intraOpThreads) options.intraOpNumThreads = this.options.intraOpThreads;
    if (this.options.executionProviders) options.executionProviders = this.options.executionProviders;
    return this.ort.InferenceSession.create(bytes, options);
  }

  /** Run the session for `outputs`; feeds its graph does not read (after pruning) are left out. */
  async run(outputs: string[], feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const session = await this.session(outputs);
    const chosen: Record<string, Tensor> = {};
    for (const name of session.inputNames) {
      if (!(name in feeds)) throw new Error(`the graph needs input ${name}, which was not fed`);
      chosen[name] = feeds[name];
    }
    return session.run(chosen, outputs);
  }

  async release(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const session of sessions) await (await session).release();
  }
}
