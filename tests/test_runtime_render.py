"""The three views of the same explanations: terminal, HTML, JSON."""

from __future__ import annotations

import json
import re

from onnxplain.runtime.render import render, render_html, render_json, render_terminal
from onnxplain.runtime.results import Explanation, Token, Word

TEXT = "Great <b>cast</b>, dull plot"


def sample(truncated: bool = False) -> Explanation:
    words = [
        Word("Great", 0, 5, 0.9, (1,)),
        Word("<", 6, 7, 0.0, (2,)),
        Word("b", 7, 8, 0.0, (3,)),
        Word(">", 8, 9, 0.0, (4,)),
        Word("cast", 9, 13, 0.3, (5,)),
        Word("dull", 19, 23, -0.6, (6,)),
    ]
    tokens = [Token("[CLS]", 0, 0, 0.0, True)] + [Token(w.text.lower(), w.start, w.end, w.relevance) for w in words]
    return Explanation(
        text=TEXT,
        method="mask-lrp",
        label="positive",
        target="positive",
        probabilities={"negative": 0.2, "positive": 0.8},
        tokens=tokens + [Token("[SEP]", 23, 23, 0.0, True)],
        words=words,
        truncated=truncated,
        warnings=["the text was cut"] if truncated else [],
    )


def test_terminal_colours_positive_and_negative_words_differently() -> None:
    output = render_terminal([sample()], color=True)
    great = re.search(r"\x1b\[48;2;(\d+);(\d+);(\d+)m\x1b\[38;2;0;0;0mGreat", output)
    dull = re.search(r"\x1b\[48;2;(\d+);(\d+);(\d+)m\x1b\[38;2;0;0;0mdull", output)
    assert great and dull
    red, _, blue = map(int, great.groups())
    assert red > blue  # supports the label: red
    red, _, blue = map(int, dull.groups())
    assert blue > red  # against it: blue
    assert "predicted positive (0.80)" in output


def test_terminal_without_colour_writes_signed_relevance() -> None:
    output = render_terminal([sample(truncated=True)], color=False)
    assert "\x1b[" not in output
    assert "Great[+0.9]" in output and "dull[-0.6]" in output
    assert "plot [not explained: cut off]" in output and "warning: the text was cut" in output


def test_html_is_one_self_contained_escaped_phone_friendly_page() -> None:
    page = render_html([sample(), sample(truncated=True)])
    assert page.startswith("<!doctype html>") and page.count("<article>") == 2
    assert 'name="viewport"' in page
    assert not re.search(r"(src|href)=|https?://|<script|@import", page), "no network, no script"
    assert "&lt;</span>" in page and "&gt;</span>" in page and "<b>cast" not in page, "the text is escaped"
    assert 'title="relevance +0.9"' in page and 'title="relevance -0.6"' in page


def test_json_view_is_the_results_to_json() -> None:
    results = [sample(), sample(truncated=True)]
    assert json.loads(render_json(results)) == {"results": [r.to_json() for r in results]}
    assert render(results, "json") == render_json(results)
