"""``results.html``: the comparison page of an evaluation, one self-contained file (inline CSS and SVG, no
script, no network) that reads on a phone: the rank table, each protocol's curves and metrics with
intervals and gains, the head-mask ablation, and texts side by side as heat maps under every method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

from onnxplain.evaluation.encoding import EncodedText
from onnxplain.evaluation.floor import RANDOM
from onnxplain.evaluation.metrics import Estimate
from onnxplain.evaluation.perturbation import ERASER_FRACTIONS, FRACTIONS
from onnxplain.evaluation.protocols import PROTOCOLS
from onnxplain.evaluation.report import EvaluationReport, ablation_names, timing_line
from onnxplain.evaluation.scores import headline_metrics, protocol_metrics

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd",
)  # fmt: skip
TOP_TOKENS = 5

STYLE = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --card: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
main { max-width: 1240px; margin: 0 auto; padding: 12px; }
h1 { font-size: 1.5rem; margin: 0.3em 0; } h2 { font-size: 1.2rem; margin-top: 1.8em; } h3 { font-size: 1rem; }
p, li { max-width: 70ch; } .meta, small, .note { color: var(--muted); }
nav a { margin-right: 0.8em; white-space: nowrap; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; font-size: 0.85rem; min-width: 100%; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0; background: #fff; }
thead th { background: var(--card); } tr.reference td { font-weight: 600; } tr.floor td { color: var(--muted); }
td small, th small { display: block; font-size: 0.75rem; }
code { overflow-wrap: anywhere; }
td.better { background: #e6f4ea; } td.worse { background: #fdecea; }
figure { margin: 0.5em 0; } svg { width: 100%; height: auto; max-width: 640px; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 12px; font-size: 0.8rem; padding: 0; list-style: none; }
.legend i { display: inline-block; width: 18px; height: 3px; vertical-align: middle; margin-right: 4px; }
article { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px;
  margin: 12px 0; }
.row { display: grid; grid-template-columns: 10rem 1fr; gap: 4px 12px; padding: 6px 0;
  border-top: 1px solid var(--line); }
.row > div { min-width: 0; } /* a long chip or word wraps instead of widening the grid */
.row .name { font-weight: 600; font-size: 0.85rem; overflow-wrap: anywhere; }
.heat { line-height: 1.9; overflow-wrap: anywhere; }
.heat span { border-radius: 3px; padding: 1px 0; }
.top { grid-column: 2; font-size: 0.8rem; color: var(--muted); }
.top b { color: var(--ink); font-weight: 600; background: #fff; border: 1px solid var(--line);
  border-radius: 4px; padding: 0 4px; margin-right: 4px; }
@media (max-width: 640px) {
  main { padding: 8px; } .row { grid-template-columns: 1fr; } .top { grid-column: 1; }
  th, td { padding: 3px 5px; }
}
"""


@dataclass(frozen=True)
class ShownText:
    index: int  # into the evaluated texts
    reason: str  # why it is shown


def _cell(value: Estimate, signed: bool = False) -> str:
    number = "{:+.3f}" if signed else "{:.3f}"
    return f"{number.format(value.mean)}<small>[{number.format(value.low)}, {number.format(value.high)}]</small>"


def _gain_cell(gain: Estimate | None) -> str:
    if gain is None:
        return "<td>—</td>"
    kind = ' class="better"' if gain.low > 0 else ' class="worse"' if gain.high < 0 else ""
    return f"<td{kind}>{_cell(gain, signed=True)}</td>"


def _row_class(report: EvaluationReport, name: str) -> str:
    if name == report.reference:
        return ' class="reference"'
    return ' class="floor"' if name == RANDOM else ""


def protocol_table(report: EvaluationReport, protocol: str, names: Sequence[str]) -> str:
    metrics = protocol_metrics(protocol, report.protocols)
    scores = report.by_name()
    head = "".join(f"<th>{escape(m.label)} {m.arrow}</th><th>gain</th>" for m in metrics)
    rows = []
    for name in names:
        cells = []
        for metric in metrics:
            score = scores[name].protocols[protocol].metrics[metric.name]
            cells.append(f"<td>{_cell(score.value)}</td>{_gain_cell(score.gain)}")
        rows.append(f"<tr{_row_class(report, name)}><td>{escape(name)}</td>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr><th>method</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def rank_table(report: EvaluationReport) -> str:
    scores = report.by_name()
    columns = headline_metrics(report.protocols)
    ranks = {}
    for protocol, metric in columns:
        means = {n: scores[n].value(protocol, metric.name).mean for n in report.methods}
        ordered = sorted(means, key=lambda n: -means[n] if metric.higher_is_better else means[n])
        ranks[(protocol, metric.name)] = {n: i + 1 for i, n in enumerate(ordered)}
    head = "".join(f"<th>{p}<small>{m.label} {m.arrow}</small></th>" for p, m in columns)
    rows = []
    for name in report.methods:
        cells = "".join(
            f"<td>{ranks[(p, m.name)][name]}<small>{scores[name].value(p, m.name).mean:.3f}</small></td>"
            for p, m in columns
        )
        rows.append(f"<tr{_row_class(report, name)}><td>{escape(name)}</td>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr><th>method</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def colours(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A colour and an SVG dash pattern per name; the random floor is grey and dotted."""
    result = {}
    for index, name in enumerate(n for n in names if n != RANDOM):
        result[name] = (PALETTE[index % len(PALETTE)], "" if index < len(PALETTE) else "6 3")
    result[RANDOM] = ("#8c959f", "2 3")
    return result


def curve_plot(report: EvaluationReport, protocol: str) -> str:
    """Mean gold-class probability after each step of ``protocol``, one line per method, as inline SVG."""
    # a narrow view box with 13-unit text: about 9 px on a 390 px phone, 16 px at the 640 px maximum
    width, height, left, right, top, bottom = 520, 300, 46, 22, 12, 40
    scores = report.by_name()
    styles = colours(report.methods)

    def x(fraction: float) -> float:
        return left + fraction * (width - left - right)

    def y(probability: float) -> float:
        return top + (1 - probability) * (height - top - bottom)

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(protocol)} curves">']
    for tick in np.linspace(0, 1, 5):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#d0d7de"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="13" text-anchor="end">{tick:.2f}</text>'
            f'<text x="{x(tick):.1f}" y="{height - bottom + 17}" font-size="13" text-anchor="middle">{tick:.0%}</text>'
        )
    parts.append(
        f'<text x="{(left + width) / 2:.0f}" y="{height - 4}" font-size="13" text-anchor="middle">'
        "fraction of tokens affected</text>"
    )
    fractions = [0.0, *FRACTIONS.tolist()]
    for name in report.methods:
        colour, dash = styles[name]
        points = " ".join(
            f"{x(f):.1f},{y(p):.1f}"
            for f, p in zip(fractions, [report.p0_mean, *scores[name].protocols[protocol].probability], strict=True)
        )
        width_attr = "2.5" if name == report.reference else "1.6"
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{width_attr}"{dash_attr}>'
            f"<title>{escape(name)}</title></polyline>"
        )
    parts.append("</svg>")
    legend = "".join(f'<li><i style="background:{styles[n][0]}"></i>{escape(n)}</li>' for n in report.methods)
    return f'<figure>{"".join(parts)}<ul class="legend">{legend}</ul></figure>'


def heat_map(text: EncodedText, relevance: np.ndarray) -> str:
    """The text with each token's background coloured by its relevance, scaled by the text's largest |r|:
    red for positive, blue for negative. Characters between tokens are kept as they are."""
    candidates = ~text.special_tokens
    scale = float(np.max(np.abs(relevance[candidates]))) if candidates.any() else 0.0
    pieces, end = [], 0
    for position, (start, stop) in enumerate(text.offsets):
        if text.special_tokens[position] or stop <= start:
            continue
        pieces.append(escape(text.text[end:start]))
        value = float(relevance[position]) / scale if scale > 0 else 0.0
        rgb = "214,39,40" if value >= 0 else "31,119,180"
        pieces.append(
            f'<span style="background:rgba({rgb},{abs(value):.2f})" title="{relevance[position]:.3g}">'
            f"{escape(text.text[max(start, end) : stop])}</span>"
        )
        end = max(end, stop)
    pieces.append(escape(text.text[end:]))
    return "".join(pieces)


def top_tokens(text: EncodedText, relevance: np.ndarray, count: int = TOP_TOKENS) -> list[str]:
    candidates = np.flatnonzero(~text.special_tokens)
    ranked = candidates[np.argsort(-relevance[candidates], kind="stable")][:count]
    return [text.text[slice(*text.offsets[i])] for i in ranked]


def text_card(
    text: EncodedText,
    relevance: Mapping[str, np.ndarray],
    labels: Mapping[int, str],
    p0: float,
    agreement: float,
    reason: str,
) -> str:
    rows = []
    for name, values in relevance.items():
        chips = " ".join(f"<b>{escape(token)}</b>" for token in top_tokens(text, values))  # spaces: it can wrap
        rows.append(
            f'<div class="row"><div class="name">{escape(name)}</div><div class="heat">{heat_map(text, values)}</div>'
            f'<div class="top">top {TOP_TOKENS}: {chips}</div></div>'
        )
    agreement_text = "n/a" if not np.isfinite(agreement) else f"{agreement:.2f}"
    return (
        f"<article><h3>Row {text.source_index + 1} · gold {escape(labels[text.label])} · "
        f"p(gold) = {p0:.3f} · mean rank correlation {agreement_text}</h3>"
        f'<p class="note">{escape(reason)}</p>{"".join(rows)}</article>'
    )


def comparison_page(
    report: EvaluationReport,
    texts: Sequence[EncodedText],
    relevance: Mapping[str, Sequence[np.ndarray]],
    p0: np.ndarray,
    agreement: Sequence[float],
    shown: Sequence[ShownText],
    labels: Mapping[int, str],
    descriptions: Mapping[str, str] | None = None,
) -> str:
    """The whole page; ``relevance`` holds the methods to show side by side (every text, unpadded);
    ``descriptions``: each method's one line, as the artifact describes it."""
    nav = ['<a href="#ranks">ranks</a>'] + [f'<a href="#{p}">{p}</a>' for p in report.protocols]
    sections = [
        '<section id="ranks"><h2>Rank of each method per protocol</h2>'
        "<p>1 = most faithful on the protocol's first metric (and on SRG); below it the mean.</p>"
        f"{rank_table(report)}</section>"
    ]
    for protocol in report.protocols:
        description = PROTOCOLS[protocol].description
        better = "stays high" if not PROTOCOLS[protocol].most_relevant_first else "falls fast"
        sections.append(
            f'<section id="{protocol}"><h2>{protocol}: {escape(description)}</h2>'
            f"<p>Mean gold-class probability after each step; a faithful ranking's curve {better}.</p>"
            f"{curve_plot(report, protocol)}{protocol_table(report, protocol, report.methods)}</section>"
        )
    ablation = ablation_names(report)
    if ablation:
        nav.append('<a href="#ablation">head masks</a>')
        tables = "".join(
            f"<h3>{p}</h3>{protocol_table(report, p, [n for n in report.methods if n == 'mask-lrp'] + ablation)}"
            for p in report.protocols
        )
        sections.append(
            '<section id="ablation"><h2>Head-mask ablation of Mask-LRP</h2><p>A head selection means something '
            "only where it beats the random and the empty masks.</p>" + tables + "</section>"
        )
    if shown:
        nav.append('<a href="#texts">texts</a>')
        cards = "".join(
            text_card(
                texts[s.index],
                {name: values[s.index] for name, values in relevance.items()},
                labels,
                float(p0[s.index]),
                agreement[s.index],
                s.reason,
            )
            for s in shown
        )
        sections.append(
            '<section id="texts"><h2>Texts side by side</h2><p>Each token coloured by its relevance under each '
            "method (red positive, blue negative, scaled per method and text; point at a token with a mouse "
            "for its value), with each method's top tokens. Shown: the texts where the methods' rankings agree least "
            "(lowest mean Spearman correlation over pairs of methods), then a few drawn at random.</p>"
            + cards
            + "</section>"
        )
    described = {n: d for n, d in (descriptions or {}).items() if d and n in report.methods}
    if described:
        nav.append('<a href="#methods">methods</a>')
        items = "".join(f"<li><b>{escape(n)}</b>: {escape(d)}</li>" for n, d in described.items())
        sections.append(
            f'<section id="methods"><h2>Methods</h2><p>As the artifact describes them.</p><ul>{items}</ul></section>'
        )
    reference = escape(report.reference) if report.reference else "none"
    intro = (
        f'<p class="meta">Artifact <code>{escape(report.artifact)}</code>, data <code>{escape(report.data)}</code>: '
        f"{report.texts_evaluated} of {report.texts_read} texts ({report.skipped_short} shorter than "
        f"{report.min_tokens} tokens skipped). Each text explains its gold label. Steps of 1/9 … 100% of the "
        "non-special tokens; ERASER comprehensiveness and sufficiency at "
        f"{', '.join(f'{k:.0%}' for k in ERASER_FRACTIONS)} with the protocol's operator. Intervals: 95% "
        f"bootstrap over texts ({report.resamples} resamples, seed {report.seed}); gain: paired difference "
        f"to the reference <b>{reference}</b>, positive = more faithful (green: interval above 0, red: "
        f"below). <code>{RANDOM}</code> is the seeded random ranking, the floor.</p>"
        f'<p class="meta">{escape(timing_line(report))}</p>'
        + "".join(f'<p class="note">Note: {escape(n)}.</p>' for n in report.notes)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Faithfulness: {escape(report.artifact)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>Faithfulness evaluation</h1>{intro}<nav>{' '.join(nav)}</nav>{''.join(sections)}"
        "</main></body></html>\n"
    )
