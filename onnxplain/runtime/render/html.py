"""One self-contained HTML page (inline style, no script, no network) that reads well on a phone."""

from __future__ import annotations

import html
from collections.abc import Sequence

from onnxplain.runtime.render.scale import word_intensities
from onnxplain.runtime.results import Explanation, Word

STYLE = """
body{font:16px/1.6 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:1rem;
background:#f6f7f9;color:#1b1d21}
main{max-width:46rem;margin:auto}
h1{font-size:1.3rem}
article{background:#fff;border-radius:.6rem;padding:1rem;margin:0 0 1rem;box-shadow:0 1px 3px #0002}
header{font-size:.9rem;color:#555;margin-bottom:.5rem}
.text{font-size:1.1rem;line-height:2;word-wrap:break-word;white-space:pre-wrap}
.text span{border-radius:.25rem;padding:.1rem .05rem}
.cut{color:#999}
.warn{color:#a15c00;font-size:.9rem}
.legend span{padding:.1rem .4rem;border-radius:.25rem}
table{border-collapse:collapse;font-size:.9rem;width:100%}
td,th{text-align:left;padding:.1rem .4rem;border-bottom:1px solid #eee}
.bar{background:#dde3ea;height:.5rem;border-radius:.25rem}
.bar div{background:#4a6fa5;height:100%;border-radius:.25rem}
"""


def _colour(intensity: float) -> str:
    rgb = "220,38,38" if intensity > 0 else "37,99,235"
    return f"rgba({rgb},{abs(intensity) * 0.75:.3f})"


def _text(result: Explanation) -> str:
    return marked_text(result.text, result.words, word_intensities(result), result.truncated)


def marked_text(text: str, words: Sequence[Word], strengths: Sequence[float], truncated: bool) -> str:
    """``text`` as HTML, each of its ``words`` on a background of its signed strength in [-1, 1]."""
    pieces = []
    cursor = 0
    for word, intensity in zip(words, strengths, strict=True):
        pieces.append(html.escape(text[cursor : word.start]))
        pieces.append(
            f'<span style="background:{_colour(intensity)}" title="relevance {word.relevance:+.4g}">'
            f"{html.escape(word.text)}</span>"
        )
        cursor = word.end
    tail = html.escape(text[cursor:])
    pieces.append(f'<span class="cut">{tail}</span>' if truncated else tail)
    return "".join(pieces)


def _probabilities(result: Explanation) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{p:.3f}</td>"
        f'<td style="width:50%"><div class="bar"><div style="width:{p * 100:.1f}%"></div></div></td></tr>'
        for label, p in sorted(result.probabilities.items(), key=lambda item: -item[1])
    )
    return f"<table>{rows}</table>"


def _tokens(result: Explanation) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(t.text)}</td><td>{t.start}–{t.end}</td><td>{t.relevance:+.4g}</td></tr>"
        for t in result.tokens
    )
    return (
        "<details><summary>tokens</summary><table><tr><th>token</th><th>characters</th>"
        f"<th>relevance</th></tr>{rows}</table></details>"
    )


def _article(result: Explanation) -> str:
    warnings = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in result.warnings)
    return (
        f"<article><header>{html.escape(result.method)} · predicted <b>{html.escape(result.label)}</b>"
        f" · explaining <b>{html.escape(result.target)}</b></header>"
        f'<p class="text">{_text(result)}</p>{warnings}{_probabilities(result)}{_tokens(result)}</article>'
    )


def render_html(results: Sequence[Explanation], title: str = "onnxplain explanations") -> str:
    return html_page(title, "the explained label", "".join(_article(r) for r in results))


def html_page(title: str, explained: str, body: str) -> str:
    """The page around the ``<article>`` elements in ``body``, with a legend of the colours."""
    legend = (
        f'<p class="legend"><span style="background:{_colour(1.0)}">supports</span> {html.escape(explained)}, '
        f'<span style="background:{_colour(-1.0)}">speaks against</span> it; hover or tap a word for its '
        "relevance.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{legend}{body}</main></body></html>\n"
    )
