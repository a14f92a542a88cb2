// A screenshot of the browser page explaining a text in headless Chromium:
//     node scripts/screenshot.mjs ARTIFACT OUT.png ["text"] [method]
// (serves dist-web/ and ARTIFACT on 127.0.0.1, so run `npm run build` first).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./chromium.mjs";
import { serve } from "./static-server.mjs";

const [artifact, out, text = "A gripping, beautifully shot film — though the ending drags 😴.", method] = process.argv.slice(2);
if (!artifact || !out) {
  console.error("usage: node scripts/screenshot.mjs ARTIFACT OUT.png [text] [method]");
  process.exit(2);
}
const web = join(dirname(fileURLToPath(import.meta.url)), "..", "dist-web");
const server = await serve({ "/": web, "/artifact/": artifact });
const browser = await launch();
try {
  const { page } = browser;
  await page.setViewportSize({ width: 820, height: 900 });
  await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
  await page.waitForFunction(() => /^Loaded|error/.test(document.getElementById("status").textContent + document.getElementById("status").className), null, { timeout: 300_000 });
  await page.fill("#text", text);
  if (method) await page.selectOption("#method", method);
  await page.click("#explain");
  await page.waitForSelector("#results article", { timeout: 300_000 });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`${await page.textContent("#status")} -> ${out}`);
} finally {
  await browser.close();
  server.close();
}
