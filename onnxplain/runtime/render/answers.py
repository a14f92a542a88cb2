"""The terminal, HTML and JSON views of explained answers (question answering artifacts).

A question and its context are shown as two marked texts on one colour scale (the largest absolute word
relevance of the pair), so that the question's words and the context's can be compared.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from onnxplain.runtime.render.html import html_page, marked_text
from onnxplain.runtime.render.scale import intensities, strongest
from onnxplain.runtime.render.terminal import join_blocks, mark_words
from onnxplain.runtime.tasks.answers import AnswerExplanation

EXPLAINED = "the answer"


def _answer_line(result: AnswerExplanation) -> str:
    if not result.answer:
        return (
            f"{result.method}: no answer in the context (the predicted span, tokens {result.start_token}-"
            f"{result.end_token}, lies outside it)"
        )
    return (
        f"{result.method}: answer {result.answer!r} (tokens {result.start_token}-{result.end_token}, "
        f"context characters {result.answer_start}-{result.answer_end})"
    )


def _warnings(result: AnswerExplanation) -> list[str]:
    if not result.truncated:
        return []
    question_end = max((w.end for w in result.question_words), default=0)
    if question_end < len(result.question.rstrip()):
        return ["the question is too long for the model's token limit and was cut, and its context with it"]
    return ["the context is longer than the model's token limit and was cut; only its first part is explained"]


def render_answers_json(results: Sequence[AnswerExplanation]) -> str:
    """The JSON document that ``onnxplain explain --question`` prints and ``POST /explain`` answers."""
    return json.dumps({"results": [r.to_json() for r in results]}, ensure_ascii=False, indent=2) + "\n"


def render_answers_terminal(results: Sequence[AnswerExplanation], color: bool = True) -> str:
    blocks = []
    for number, result in enumerate(results, start=1):
        words = [*result.question_words, *result.context_words]
        question = mark_words(
            result.question, result.question_words, intensities(result.question_words, words), color, False
        )
        context = mark_words(
            result.context, result.context_words, intensities(result.context_words, words), color, result.truncated
        )
        top = ", ".join(f"{text} {relevance:+.3g}" for text, relevance in strongest(words))
        lines = [f"[{number}/{len(results)}] {_answer_line(result)}", f"question: {question}", f"context:  {context}"]
        lines += [f"strongest words: {top}", *(f"warning: {w}" for w in _warnings(result))]
        blocks.append("\n".join(lines))
    return join_blocks(blocks, f"red: supports {EXPLAINED}, blue: speaks against it", color)


def _article(result: AnswerExplanation) -> str:
    words = [*result.question_words, *result.context_words]
    question = marked_text(result.question, result.question_words, intensities(result.question_words, words), False)
    context = marked_text(
        result.context, result.context_words, intensities(result.context_words, words), result.truncated
    )
    warnings = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in _warnings(result))
    rows = "".join(
        f"<tr><td>{html.escape(t.text)}</td><td>{'question' if s == 0 else 'context' if s == 1 else ''}</td>"
        f"<td>{t.start}–{t.end}</td><td>{t.relevance:+.4g}</td></tr>"
        for t, s in zip(result.tokens, result.token_segments, strict=True)
    )
    return (
        f"<article><header>{html.escape(_answer_line(result))}</header>"
        f'<p class="text"><b>Q:</b> {question}</p><p class="text"><b>Context:</b> {context}</p>{warnings}'
        "<details><summary>tokens</summary><table><tr><th>token</th><th>text</th><th>characters</th>"
        f"<th>relevance</th></tr>{rows}</table></details></article>"
    )


def render_answers_html(results: Sequence[AnswerExplanation], title: str = "onnxplain explained answers") -> str:
    return html_page(title, EXPLAINED, "".join(_article(r) for r in results))


def render_answers(results: Sequence[AnswerExplanation], fmt: str, color: bool = True) -> str:
    if fmt == "json":
        return render_answers_json(results)
    if fmt == "html":
        return render_answers_html(results)
    if fmt == "term":
        return render_answers_terminal(results, color=color)
    raise ValueError(f"unknown format {fmt!r}; use term, html or json")
