"""The comparison page from hand-made curves and texts: well-formed, self-contained, escaped, and each text's
heat map coloured by sign and scaled per method."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np

from onnxplain.evaluation.encoding import EncodedText
from onnxplain.evaluation.page import ShownText, comparison_page, heat_map, top_tokens
from onnxplain.evaluation.report import EvaluationReport
from onnxplain.evaluation.scores import score_curves
from tests.test_evaluation_scores import curves_of


class Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag not in {"meta", "br"}:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


def text_of(words: str, label: int = 1) -> EncodedText:
    """A hand-tokenized text: [CLS] word ... [SEP], one token per space-separated word."""
    offsets, position = [(0, 0)], 0
    for word in words.split(" "):
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    offsets.append((position - 1, position - 1))
    count = len(offsets)
    special = np.zeros(count, dtype=bool)
    special[[0, -1]] = True
    return EncodedText(np.arange(count), special, label, 0, text=words, offsets=tuple(offsets))


def report_of(methods: list[str]) -> EvaluationReport:
    curves = curves_of({name: 0.6 - 0.1 * i for i, name in enumerate(methods)})
    scores = score_curves(curves, reference=methods[0], resamples=50, seed=0)
    return EvaluationReport(
        artifact="art", data="data.csv", texts_read=4, texts_evaluated=4, skipped_short=0, truncated=0,
        min_tokens=20, resamples=50, seed=0, seconds=1.0, explain_seconds=0.2, forward_seconds=0.7,
        cpu_seconds=1.5, forward_sequences=10, forward_tokens=100, floored_probabilities=0, p0_mean=0.84,
        protocols=list(curves.steps), methods=methods, reference=methods[0], scores=scores,
    )  # fmt: skip


def test_heat_map_escapes_text_and_colours_by_sign_scaled_per_method() -> None:
    text = text_of("a <b>bold</b> & fine film")
    relevance = np.array([9.0, 0.5, -1.0, 0.0, 0.25, 0.1, 99.0])  # the special tokens' values are ignored
    html = heat_map(text, relevance)
    assert "<b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html and "&amp;" in html
    assert "rgba(214,39,40,0.50)" in html  # 0.5 / max |r| of the real tokens (1.0), positive: red
    assert "rgba(31,119,180,1.00)" in html  # -1.0: blue at full strength
    assert re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text.text
    assert top_tokens(text, relevance, 2) == ["a", "fine"]


def test_page_is_well_formed_and_self_contained() -> None:
    methods = ["cp-lrp", "attcat", "random"]
    report = report_of(methods)
    texts = [text_of("one two three four"), text_of("five six seven eight nine")]
    relevance = {m: [np.random.default_rng(i).normal(size=len(t.offsets)) for t in texts] for i, m in
                 enumerate(methods[:2])}  # fmt: skip
    shown = [ShownText(1, "1. most disagreement"), ShownText(0, "drawn at random")]
    descriptions = {"cp-lrp": "CP-LRP <rules>", "attcat": ""}  # a format-2 artifact describes no method
    labels = {0: "neg", 1: "pos"}
    page = comparison_page(report, texts, relevance, np.array([0.9, 0.7]), [0.5, -0.3], shown, labels, descriptions)
    checker = Balance()
    checker.feed(page)
    assert checker.problems == [] and checker.open == []
    assert page.count("<svg") == len(report.protocols) and page.count("<article>") == 2
    assert page.index("Row 1 · gold pos") > page.index('id="texts"')
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) and "<script" not in page
    assert "@media (max-width: 640px)" in page  # one column on a phone
    assert page.count("</b> <b>") == (3 + 4) * 2  # top-token chips apart (a phone wraps them): 4 and 5 words
    assert "<b>cp-lrp</b>: CP-LRP &lt;rules&gt;" in page and "<b>attcat</b>" not in page
    assert page.count('<tr class="reference">') == len(report.protocols) + 1  # each table and the ranks
