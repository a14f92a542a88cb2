"""What a task is: everything that differs between explaining a classifier, a language model's next token and an
extractive question answering model, behind one interface that the explainer, the server, the command line,
the views and the evaluation call without asking which task they hold.

A task says:

- its **inputs**: what a caller passes (texts, or question + context pairs) and how they become encodings;
- its **targets**: what a caller may ask to explain (a label; an answer span) and the graph's ``target`` input
  built from that (int64 ``[batch]`` or ``[batch, 2]``, -1 = predicted);
- the **explained position**: which token's logits the relevance explains (documentation; the graph does it);
- its **result**: the type one explained input becomes, with its JSON form (``to_json``);
- its **views**: terminal, HTML and JSON (``render``);
- its **request schema**: the JSON Schema of a ``POST /explain`` body, and of one result, for the server;
- its **command-line inputs**: how ``onnxplain explain`` reads inputs and ``--target``.

A task object belongs to one loaded artifact (it holds the tokenizer); ``Explainer.task`` is the one in use.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from onnxplain.runtime.artifact import Manifest
from onnxplain.runtime.server_limits import ServerLimits


class Encoding(Protocol):
    """What every task's tokenized input has: token ids, and a length for batching by size."""

    ids: np.ndarray

    def __len__(self) -> int: ...


class Result(Protocol):
    """What every task's result has: per-token relevance and a JSON form."""

    @property
    def relevance(self) -> np.ndarray: ...

    def to_json(self) -> dict[str, Any]: ...


class Task(ABC):
    """One task (``manifest["task"]``). Subclasses fill in the class variables and the methods below."""

    name: ClassVar[str]  # as written in manifest["task"]
    explained_position: ClassVar[str]  # which token's logits are explained, in words
    item_noun: ClassVar[str]  # what one input is called in messages: "text", "pair"
    evaluation: ClassVar[str]  # the faithfulness protocol `onnxplain evaluate` runs for this task
    strings_per_item: ClassVar[int]  # strings one input holds in a request body (for the body size limit)

    def __init__(self, manifest: Manifest, tokenizer_file: Path, max_length: int) -> None:
        self.manifest = manifest
        self.tokenizer_file = tokenizer_file
        self.max_length = max_length

    # inputs and targets (Python API)
    @abstractmethod
    def items(self, inputs: Any) -> list[Any]:
        """Check and list what ``Explainer.explain`` was given; one ``UserError`` naming a bad input."""

    @abstractmethod
    def encode(self, items: Sequence[Any]) -> list[Any]:
        """Tokenize checked items (cut to ``max_length`` tokens)."""

    @abstractmethod
    def targets(self, target: Any, encodings: Sequence[Encoding]) -> np.ndarray:
        """The graph's ``target`` rows for these encodings from what a caller asked (None = predicted)."""

    @abstractmethod
    def check_target(self, target: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
        """The ``target`` input for token ids of ``shape`` (None = predicted), checked."""

    def feeds(self, encodings: Sequence[Encoding]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``input_ids``, ``attention_mask`` and ``token_type_ids`` (None: all 0) of a batch, right-padded."""
        longest = max(len(e) for e in encodings)
        input_ids = np.full((len(encodings), longest), self.manifest.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(encodings), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            input_ids[row, : len(encoding)] = encoding.ids
            attention_mask[row, : len(encoding)] = 1
        return input_ids, attention_mask, None

    # results and views
    @abstractmethod
    def result(
        self,
        encoding: Any,
        logits: np.ndarray,
        relevance: np.ndarray,
        target: np.ndarray,
        method: str,
        metadata: dict[str, Any],
    ) -> Result:
        """One explained input from its encoding and its rows of the graph's outputs (padding included)."""

    @abstractmethod
    def render(self, results: Sequence[Any], fmt: str, color: bool = True) -> str:
        """The ``term``, ``html`` or ``json`` view of results."""

    # the server
    @abstractmethod
    def request_schema(self, methods: Sequence[str], default_method: str, limits: ServerLimits) -> dict[str, Any]:
        """The JSON Schema of a ``POST /explain`` body."""

    @abstractmethod
    def request_shape(self) -> str:
        """A valid body in brief, for error messages: ``{"text": "..."} or {"texts": [...]}``."""

    @abstractmethod
    def result_schema(self) -> dict[str, Any]:
        """The JSON Schema of one result's JSON form."""

    @abstractmethod
    def request_items(self, payload: dict[str, Any]) -> tuple[list[Any], Any]:
        """The items and the target (as ``targets`` takes it) of a request body that the schema admitted."""

    # the command line
    @abstractmethod
    def cli_items(self, args: argparse.Namespace) -> list[Any]:
        """The inputs of ``onnxplain explain`` (arguments and ``--file``); refuses options of other tasks."""

    @abstractmethod
    def cli_target(self, value: str | None) -> Any:
        """``--target`` as ``targets`` takes it."""
