// The Node client against the Python runtime's goldens: same tokens, spans and words exactly, numbers
// within 1e-5 of each method's scale, for every method, with and without a head-mask override.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import * as lib from "../../dist/node.js";
import { int8Parity, parity } from "../parity.mjs";
import { GOLDEN_DIR, readGolden } from "./golden.mjs";

test("explanations equal the Python runtime's (Node)", async () => {
  const golden = readGolden();
  const failures = await parity(lib, (name) => lib.loadExplainer(join(GOLDEN_DIR, name), { batchSize: golden.batch_size }), golden);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} differences`);
});

test("the int8 artifact's explanations equal the Python runtime's (Node)", async () => {
  const golden = readGolden("int8.json");
  const failures = await int8Parity(lib, (name) => lib.loadExplainer(join(GOLDEN_DIR, name), { batchSize: golden.batch_size }), golden);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} differences`);
});
