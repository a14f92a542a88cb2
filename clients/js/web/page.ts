// The browser page: load an artifact (same origin or picked files), explain typed text, show the heat map
// with the colours of `onnxplain explain --format html`. Everything stays in the page.
import * as onnxplain from "../src/browser.js";
import type { Explainer, Explanation } from "../src/browser.js";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const wasmPaths = new URL(".", import.meta.url).href;
let explainer: Explainer | null = null;

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Python's format(value, "+.4g"). */
export function signed4g(value: number): string {
  if (value === 0) return "+0";
  const exponent = Math.floor(Math.log10(Math.abs(Number(value.toPrecision(4)))));
  const sign = value < 0 ? "-" : "+";
  const magnitude = Math.abs(value);
  if (exponent < -4 || exponent >= 4) {
    const [mantissa, power] = magnitude.toExponential(3).split("e");
    const trimmed = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
    const p = Number(power);
    return `${sign}${trimmed}e${p < 0 ? "-" : "+"}${String(Math.abs(p)).padStart(2, "0")}`;
  }
  const fixed = magnitude.toFixed(Math.max(0, 3 - exponent));
  return sign + (fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed);
}

function status(text: string, error = false): void {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

/** The text with each word on its heat-map background, as `onnxplain explain --format html` marks it. */
function markedText(result: Explanation): string {
  const characters = Array.from(result.text);
  const intensities = onnxplain.wordIntensities(result.words);
  let cursor = 0;
  let html = "";
  result.words.forEach((word, i) => {
    html += escape(characters.slice(cursor, word.start).join(""));
    html += `<span style="background:${onnxplain.heatColour(intensities[i])}" title="relevance ${signed4g(word.relevance)}">${escape(word.text)}</span>`;
    cursor = word.end;
  });
  const tail = escape(characters.slice(cursor).join(""));
  return html + (result.truncated ? `<span class="cut">${tail}</span>` : tail);
}

function article(result: Explanation): string {
  const probabilities = Object.entries(result.probabilities)
    .sort((a, b) => b[1] - a[1])
    .map(([label, p]) => `<tr><td>${escape(label)}</td><td>${p.toFixed(3)}</td><td style="width:50%"><div class="bar"><div style="width:${(p * 100).toFixed(1)}%"></div></div></td></tr>`)
    .join("");
  const tokens = result.tokens
    .map((t) => `<tr><td>${escape(t.text)}</td><td>${t.start}–${t.end}</td><td>${signed4g(t.relevance)}</td></tr>`)
    .join("");
  const warnings = result.warnings.map((w) => `<p class="warn">${escape(w)}</p>`).join("");
  return (
    `<article><header>${escape(result.method)} · predicted <b>${escape(result.label)}</b> · explaining <b>${escape(result.target)}</b></header>` +
    `<p class="text">${markedText(result)}</p>${warnings}<table>${probabilities}</table>` +
    `<details><summary>tokens</summary><table><tr><th>token</th><th>characters</th><th>relevance</th></tr>${tokens}</table></details></article>`
  );
}

function options(select: HTMLSelectElement, entries: [string, string][], chosen: string): void {
  select.innerHTML = entries.map(([value, text]) => `<option value="${escape(value)}"${value === chosen ? " selected" : ""}>${escape(text)}</option>`).join("");
}

async function use(loading: Promise<Explainer>, where: string): Promise<void> {
  $<HTMLButtonElement>("explain").disabled = true;
  status(`Loading ${where}…`);
  try {
    const started = performance.now();
    const loaded = await loading;
    await explainer?.release();
    explainer = loaded;
    options($("method"), loaded.methods.map((m) => [m, m]), loaded.defaultMethod);
    options($("target"), [["", "the predicted label"], ...[...loaded.labels].map(([i, n]): [string, string] => [String(i), n])], "");
    $<HTMLButtonElement>("explain").disabled = false;
    status(`Loaded ${where} (${loaded.manifest.architecture}, ${loaded.methods.length} methods) in ${Math.round(performance.now() - started)} ms.`);
  } catch (error) {
    status((error as Error).message, true);
  }
}

async function explain(): Promise<void> {
  if (explainer === null) return;
  const target = $<HTMLSelectElement>("target").value;
  status("Explaining…");
  try {
    const started = performance.now();
    const results = await explainer.explain($<HTMLTextAreaElement>("text").value, {
      method: $<HTMLSelectElement>("method").value,
      target: target === "" ? undefined : Number(target),
    });
    $("results").innerHTML = results.map(article).join("");
    status(`Explained in ${Math.round(performance.now() - started)} ms, in this page.`);
  } catch (error) {
    status((error as Error).message, true);
  }
}

$("artifact-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = $<HTMLInputElement>("artifact-url").value;
  void use(onnxplain.loadExplainerFromUrl(url, { wasmPaths }), url);
});
$("artifact-files").addEventListener("change", () => {
  const files = $<HTMLInputElement>("artifact-files").files;
  if (files && files.length > 0) void use(onnxplain.loadExplainerFromFiles(files, { wasmPaths }), "the picked files");
});
$("explain-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void explain();
});

Object.assign(globalThis, { onnxplain: { ...onnxplain, wasmPaths }, onnxplainPage: { get explainer() { return explainer; }, signed4g } });
const initial = new URLSearchParams(location.search).get("artifact");
if (initial !== null) $<HTMLInputElement>("artifact-url").value = initial;
void use(onnxplain.loadExplainerFromUrl($<HTMLInputElement>("artifact-url").value, { wasmPaths }), $<HTMLInputElement>("artifact-url").value);
