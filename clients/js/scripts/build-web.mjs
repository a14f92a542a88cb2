// Bundle the browser page (web/) with the package and copy onnxruntime-web's WASM files beside it, into
// dist-web/: static files that any static server can serve.
import { build } from "esbuild";
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist-web");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, "web", "page.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  outfile: join(out, "page.js"),
  logLevel: "warning",
});
await build({
  entryPoints: [join(root, "src", "browser.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  outfile: join(out, "onnxplain.js"),
  logLevel: "warning",
});
cpSync(join(root, "web", "index.html"), join(out, "index.html"));
for (const file of ["ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs"]) {
  cpSync(join(root, "node_modules", "onnxruntime-web", "dist", file), join(out, file));
}
