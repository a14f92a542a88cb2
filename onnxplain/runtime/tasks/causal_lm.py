"""Causal language modelling (``manifest.task == "causal-lm"``): explain the next token after a text.

Everything is as for sequence classification with the vocabulary as the labels (``manifest.labels`` maps
token ids to tokens): the graph's ``target`` is a token id (-1: the most likely next token), its ``logits`` are
the next-token scores at the last real token, which is the explained position. A caller names the token to
explain by its spelling in the vocabulary or by its id.
"""

from __future__ import annotations

from typing import ClassVar

from onnxplain.runtime.tasks.classification import SequenceClassification


class CausalLM(SequenceClassification):
    name: ClassVar[str] = "causal-lm"
    explained_position: ClassVar[str] = "the last real token (its next-token logits)"
