"""The question answering metric: answer tokens among the most relevant, the gold span's tokens, the data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from onnxplain.errors import UserError
from onnxplain.evaluation.answer_tokens import (
    AnswerTokenScores,
    answer_token_span,
    answer_tokens_in_top,
    read_answer_examples,
)


def test_hits_count_answer_tokens_among_the_top_and_skip_special_tokens() -> None:
    relevance = np.array([9.0, 0.1, 5.0, 4.0, 0.2, 3.0, 8.0])
    special = np.array([True, False, False, False, False, False, True])
    # the top 2 non-special tokens are 2 and 3; the answer is tokens 3..5
    assert answer_tokens_in_top(relevance, special, (3, 5), top=2) == (1, 2)
    assert answer_tokens_in_top(relevance, special, (3, 5), top=20) == (3, 3)
    assert answer_tokens_in_top(relevance, special, (1, 1), top=3) == (0, 1)


def test_the_gold_span_is_the_context_tokens_overlapping_the_answer() -> None:
    segments = [None, 0, 0, None, 1, 1, 1, 1, None]
    offsets = [(0, 0), (0, 3), (4, 8), (0, 0), (0, 3), (4, 9), (10, 12), (13, 17), (0, 0)]
    assert answer_token_span(segments, offsets, 4, 12) == (5, 6)
    assert answer_token_span(segments, offsets, 0, 3) == (4, 4)  # the question's (0, 3) does not count
    assert answer_token_span(segments, offsets, 30, 35) is None  # cut off by truncation


def test_scores_are_the_summed_share_and_the_mean_share() -> None:
    scores = AnswerTokenScores(top=20, examples=2, hits={"attnlrp": [1, 3]}, possible=[2, 3])
    assert scores.share("attnlrp") == pytest.approx(4 / 5)
    assert scores.mean_share("attnlrp") == pytest.approx((0.5 + 1.0) / 2)
    assert "| attnlrp | 0.800 | 0.750 |" in scores.to_markdown()


def test_reads_both_answer_forms_and_rejects_a_misplaced_answer(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    rows = [
        {"question": "who?", "context": "it was varda", "answer": "varda", "answer_start": 7},
        {"question": "when?", "context": "in 1962", "answers": {"text": ["1962"], "answer_start": [3]}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    examples = read_answer_examples(path)
    assert [(e.answer_start, e.answer_end) for e in examples] == [(7, 12), (3, 7)]
    path.write_text(json.dumps(dict(rows[0], answer_start=2)) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="not at answer_start"):
        read_answer_examples(path)
