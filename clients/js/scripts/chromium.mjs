// Debian's Chromium, headless, driven by playwright-core (no browser download): the flags keep it from
// reaching the network, and every launch gets a fresh profile that is removed on close.
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.ONNXPLAIN_CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

/** A browser context with one page; `close()` ends the browser and removes its profile. */
export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing; install Debian's chromium (apt-get install -y chromium) or set ONNXPLAIN_CHROMIUM`);
  }
  const profile = mkdtempSync(join(tmpdir(), "onnxplain-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
