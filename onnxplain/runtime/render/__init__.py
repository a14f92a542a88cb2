"""Three views of the same explanations: a terminal heat map, a self-contained HTML page, and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from onnxplain.runtime.render.html import render_html
from onnxplain.runtime.render.terminal import render_terminal
from onnxplain.runtime.results import Explanation

FORMATS = ("term", "html", "json")


def render_json(results: Sequence[Explanation]) -> str:
    """The JSON document that ``onnxplain explain --format json`` prints and ``POST /explain`` answers."""
    return json.dumps({"results": [r.to_json() for r in results]}, ensure_ascii=False, indent=2) + "\n"


def render(results: Sequence[Explanation], fmt: str, color: bool = True) -> str:
    if fmt == "json":
        return render_json(results)
    if fmt == "html":
        return render_html(results)
    if fmt == "term":
        return render_terminal(results, color=color)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "render", "render_html", "render_json", "render_terminal"]
