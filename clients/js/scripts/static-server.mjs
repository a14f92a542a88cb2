// A static file server on 127.0.0.1 for the browser page: `node scripts/static-server.mjs [ARTIFACT] [PORT]`
// serves dist-web/ at / and the artifact directory at /artifact/. Also imported by the browser tests.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
  ".wasm": "application/wasm", ".onnx": "application/octet-stream", ".png": "image/png",
};

// A cross-origin isolated page may run onnxruntime-web on several threads (SharedArrayBuffer); everything the
// page loads comes from this server, so isolating it blocks nothing.
const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

/** Serve `mounts` ({"/prefix/": directory}) on 127.0.0.1:`port` (0 = any free port); resolves to the server. */
export function serve(mounts, port = 0) {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://127.0.0.1").pathname);
    const prefix = Object.keys(mounts).sort((a, b) => b.length - a.length).find((p) => path.startsWith(p));
    const root = prefix === undefined ? null : resolve(mounts[prefix]);
    let file = root === null ? null : normalize(join(root, path.slice(prefix.length) || "index.html"));
    if (file !== null && !(file === root || file.startsWith(root + sep))) file = null;
    const found = file !== null && (() => { try { return statSync(file).isFile(); } catch { return false; } })();
    if (!found) {
      response.writeHead(404, { "content-type": "text/plain", ...ISOLATED }).end("not found");
      return;
    }
    response.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store", ...ISOLATED });
    createReadStream(file).pipe(response);
  });
  return new Promise((done) => server.listen(port, "127.0.0.1", () => done(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const web = fileURLToPath(new URL("../dist-web/", import.meta.url));
  const mounts = { "/": web };
  if (process.argv[2]) mounts["/artifact/"] = process.argv[2];
  const server = await serve(mounts, Number(process.argv[3] ?? 8000));
  console.log(`serving the onnxplain page at http://127.0.0.1:${server.address().port}/ (Ctrl-C stops it)`);
}
