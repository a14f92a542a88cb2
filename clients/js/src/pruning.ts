/**
 * Cut an ONNX model down to the nodes that a chosen set of outputs needs (the twin of the Python runtime's
 * `pruning.py`). ONNX Runtime runs every node of a graph on every call, even when only some outputs are
 * fetched, so each output set gets a session of its own graph and a method costs only what it computes.
 *
 * Works on the protobuf bytes directly (see protobuf-wire.ts): kept nodes, inputs, outputs, value infos and
 * initializers are copied as they are, and the weights are never decoded. Initializers named in `dropped`
 * are left out, which turns a graph input they defaulted into a required one (used for `head_mask` of
 * version 1 artifacts).
 */
import { MessageWriter, fields, strings, stringField, LENGTH_DELIMITED, type WireField } from "./protobuf-wire.js";

// field numbers of onnx.proto
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_VALUE_INFO = 13;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_ATTRIBUTE = 5;
const ATTRIBUTE_GRAPH = 6;
const ATTRIBUTE_GRAPHS = 11;
const TENSOR_NAME = 8;
const VALUE_INFO_NAME = 1;

interface GraphNode {
  field: WireField;
  inputs: string[];
  outputs: string[];
  attributes: WireField[];
}

function graphNodes(graph: WireField[]): GraphNode[] {
  return graph
    .filter((f) => f.number === GRAPH_NODE && f.wireType === LENGTH_DELIMITED)
    .map((field) => {
      const node = fields(field.payload);
      return {
        field,
        inputs: strings(node, NODE_INPUT),
        outputs: strings(node, NODE_OUTPUT),
        attributes: node.filter((f) => f.number === NODE_ATTRIBUTE),
      };
    });
}

/** Names that a node's subgraphs (If/Loop/Scan bodies) read from the enclosing graph. */
function subgraphInputs(node: GraphNode): Set<string> {
  const names = new Set<string>();
  for (const attribute of node.attributes) {
    for (const sub of fields(attribute.payload)) {
      if (sub.number !== ATTRIBUTE_GRAPH && sub.number !== ATTRIBUTE_GRAPHS) continue;
      const graph = fields(sub.payload);
      const produced = new Set<string>([
        ...graph.filter((f) => f.number === GRAPH_INPUT).map((f) => stringField(f.payload, VALUE_INFO_NAME)),
        ...graph.filter((f) => f.number === GRAPH_INITIALIZER).map((f) => stringField(f.payload, TENSOR_NAME)),
      ]);
      const inner = graphNodes(graph);
      for (const n of inner) n.outputs.forEach((o) => produced.add(o));
      for (const n of inner) {
        for (const name of n.inputs) if (name && !produced.has(name)) names.add(name);
        for (const name of subgraphInputs(n)) if (!produced.has(name)) names.add(name);
      }
    }
  }
  return names;
}

/** The indices (in original, topological order) of the nodes that `outputs` depend on, and every needed name. */
export function neededNodes(nodes: GraphNode[], outputs: Iterable<string>): { kept: number[]; needed: Set<string> } {
  const producer = new Map<string, number>();
  nodes.forEach((node, index) => node.outputs.forEach((name) => name && producer.set(name, index)));
  const needed = new Set<string>();
  const kept = new Set<number>();
  const pending = [...outputs];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (needed.has(name)) continue;
    needed.add(name);
    const index = producer.get(name);
    if (index !== undefined && !kept.has(index)) {
      kept.add(index);
      pending.push(...nodes[index].inputs.filter((n) => n));
      pending.push(...subgraphInputs(nodes[index]));
    }
  }
  return { kept: [...kept].sort((a, b) => a - b), needed };
}

/** A parsed model, ready to be pruned to any set of outputs. */
export class PrunableModel {
  private readonly model: WireField[];
  private readonly graph: WireField[];
  private readonly nodes: GraphNode[];
  readonly outputNames: string[];
  readonly inputNames: string[];

  constructor(bytes: Uint8Array) {
    this.model = fields(bytes);
    const graph = this.model.find((f) => f.number === MODEL_GRAPH);
    if (graph === undefined) throw new Error("the ONNX model has no graph");
    this.graph = fields(graph.payload);
    this.nodes = graphNodes(this.graph);
    this.outputNames = this.graph.filter((f) => f.number === GRAPH_OUTPUT).map((f) => stringField(f.payload, VALUE_INFO_NAME));
    this.inputNames = this.graph.filter((f) => f.number === GRAPH_INPUT).map((f) => stringField(f.payload, VALUE_INFO_NAME));
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The serialized model computing only `outputs`, with the initializers named in `dropped` removed. */
  prune(outputs: string[], dropped: ReadonlySet<string> = new Set()): { bytes: Uint8Array; nodeCount: number } {
    const { kept, needed } = neededNodes(this.nodes, outputs);
    const keptFields = new Set(kept.map((i) => this.nodes[i].field));
    const wanted = new Set(outputs);
    const graph = new MessageWriter();
    for (const field of this.graph) {
      let keep = true;
      if (field.number === GRAPH_NODE) keep = keptFields.has(field);
      else if (field.number === GRAPH_INPUT || field.number === GRAPH_VALUE_INFO) {
        keep = needed.has(stringField(field.payload, VALUE_INFO_NAME));
      } else if (field.number === GRAPH_OUTPUT) keep = wanted.has(stringField(field.payload, VALUE_INFO_NAME));
      else if (field.number === GRAPH_INITIALIZER) {
        const name = stringField(field.payload, TENSOR_NAME);
        keep = needed.has(name) && !dropped.has(name);
      }
      if (keep) graph.raw(field.bytes);
    }
    const model = new MessageWriter();
    for (const field of this.model) {
      if (field.number === MODEL_GRAPH) model.message(MODEL_GRAPH, graph);
      else model.raw(field.bytes);
    }
    return { bytes: model.finish(), nodeCount: kept.length };
  }
}
