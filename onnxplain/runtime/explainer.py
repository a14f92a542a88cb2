"""``Explainer``: load an artifact and explain its task's inputs with it, on CPU or CUDA, without PyTorch.

What differs between tasks (inputs, targets, results) is the task's (``onnxplain.runtime.tasks``); this class
batches, runs the graph and hands each row of its outputs to the task.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onnxplain.errors import UserError
from onnxplain.runtime.artifact import (
    ATTENTION_MASK,
    HEAD_MASK,
    INPUT_IDS,
    LOGITS,
    MODEL_FILE,
    TARGET,
    TOKEN_TYPE_IDS,
    TOKENIZER_FILE,
    Manifest,
    read_manifest,
    verify_files,
)
from onnxplain.runtime.memory_planner import MemoryPlanner
from onnxplain.runtime.sessions import Device, SessionPool, choose_device
from onnxplain.runtime.tasks import Task, task_for


class FidelityWarning(UserWarning):
    """A method was asked of a reduced-precision artifact whose fidelity measurement did not recommend it."""


class Explainer:
    """An artifact ready to explain. Create it with ``Explainer.load``."""

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        sessions: SessionPool,
        batch_size: int,
        max_length: int,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.methods: tuple[str, ...] = tuple(manifest.methods)
        self.batch_size = batch_size
        self.max_length = max_length
        self._sessions = sessions
        self.task: Task = task_for(manifest.task)(manifest, directory / TOKENIZER_FILE, max_length)
        self.memory = MemoryPlanner.unlimited(max_length)  # Explainer.load sets the budget
        # method -> why a reduced-precision artifact does not recommend it (Manifest.not_recommended)
        self.not_recommended = {m: c for m in self.methods if (c := manifest.not_recommended(m))}
        self._warned: set[str] = set()  # methods whose FidelityWarning was given

    @classmethod
    def load(
        cls,
        artifact_dir: str | Path,
        device: str = "cpu",
        batch_size: int = 16,
        max_length: int | None = None,
        intra_op_threads: int | None = None,
        cached_sessions: int = 4,
        memory_budget: int | str | None = None,
        intra_op_spinning: bool = False,
    ) -> Explainer:
        """Load an artifact. ``device``: ``cpu``, ``cuda`` or ``auto`` (CUDA when usable, else CPU).

        ``batch_size`` texts go into one ONNX Runtime call; ``max_length`` (tokens, at most the model's
        limit, which is the default) is where longer texts are cut. ``cached_sessions`` is how many sets of
        outputs (method combinations) keep a built session; asking for one more rebuilds the least recently
        used, which takes seconds. ``memory_budget`` (bytes, or a size such as ``"2GiB"``) is what calls may
        use beyond the loaded model: batches are formed by their measured working memory (see
        ``memory_planner``), and an input too large for it alone is refused; the default comes from the
        container's or the machine's memory (``memory_budget.default_budget``); ``"unlimited"`` bounds batches
        by ``batch_size`` only. ``intra_op_spinning`` lets ONNX Runtime's intra-op threads spin between operators
        instead of sleeping (its own default, off here): lower latency with two or more threads on cores that
        nothing else needs (an edge device explaining one text at a time), CPU burnt while they wait; leave it off
        on a shared machine or in a server that runs several calls at once.
        """
        directory = Path(artifact_dir)
        manifest = read_manifest(directory)
        verify_files(directory, manifest.files)  # a damaged file is one sentence, not an ONNX Runtime error
        if batch_size < 1:
            raise UserError(f"batch size {batch_size} is not positive; use 1 or more")
        limit = manifest.max_length
        if max_length is not None and not 2 < max_length <= limit:
            raise UserError(f"max length {max_length} is outside 3..{limit} (the model's limit); pick one inside")
        if cached_sessions < 1:
            raise UserError(f"cached sessions {cached_sessions} is not positive; use 1 or more")
        sessions = SessionPool(
            directory / MODEL_FILE, choose_device(device), intra_op_threads, cached_sessions, spinning=intra_op_spinning
        )
        explainer = cls(directory, manifest, sessions, batch_size, max_length or limit)
        # build the most likely session now, so a device problem shows at load time, not at the first text
        sessions.session((LOGITS, manifest.output_name(explainer.default_method)))
        explainer.memory = MemoryPlanner.for_explainer(explainer, memory_budget)
        return explainer

    @property
    def device(self) -> Device:
        return self._sessions.device

    @property
    def labels(self) -> dict[int, str]:
        return dict(self.manifest.labels)

    @property
    def default_method(self) -> str:
        """The method used when none is asked for: the artifact's (``manifest["default_method"]``)."""
        return self.manifest.default_method

    def tokenize(self, texts: str | Sequence[str]) -> list[Any]:
        """The encodings of texts (of any task's inputs; see ``encode``)."""
        return self.encode(texts)

    def encode(self, inputs: Any) -> list[Any]:
        """Check and tokenize inputs: texts, or (question, context) pairs for a question answering artifact."""
        return self.task.encode(self.task.items(inputs))

    def explain(
        self,
        inputs: Any,
        method: str | None = None,
        target: Any = None,
        head_mask: np.ndarray | None = None,
    ) -> list[Any]:
        """Explain each input with ``method`` (default: the artifact's); one result per input, in order.

        ``inputs``: a text or a list of texts; for a question answering artifact a (question, context) pair or a
        list of pairs. ``target``: None = the predicted label (or answer); for classifiers and language models a
        label name or index, or one per text; for question answering a (start token, end token) span, or one
        per pair. ``head_mask``: float32 [layers, heads] for the head-masked methods (default: the artifact's).
        """
        encodings = self.encode(inputs)
        targets = self.task.targets(target, encodings)
        return self.explain_encodings(encodings, method or self.default_method, targets, head_mask)

    def explain_encodings(
        self,
        encodings: Sequence[Any],
        method: str,
        targets: np.ndarray,
        head_mask: np.ndarray | None = None,
    ) -> list[Any]:
        """Explain encoded inputs: batches of similar length, each padded to its longest, in input order."""
        self.check_method(method)
        results: list[Any] = [None] * len(encodings)
        metadata = self._metadata(method, head_mask)
        lengths = [len(e) for e in encodings]
        for rows in self.memory.batches(lengths, method, self.batch_size, self.task.item_noun):
            input_ids, attention_mask, token_type_ids = self.task.feeds([encodings[i] for i in rows])
            outputs = self.run(input_ids, attention_mask, (method,), targets[rows], head_mask, token_type_ids)
            for row, index in enumerate(rows):
                results[index] = self.task.result(
                    encodings[index], outputs[LOGITS][row], outputs[method][row], targets[index], method, metadata
                )
        return results

    def run(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        methods: str | Sequence[str] | None = None,
        target: np.ndarray | None = None,
        head_mask: np.ndarray | None = None,
        token_type_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """One ONNX Runtime call on token ids (int64 [batch, seq]); ``methods`` None = all, () = logits only.

        ``target``: the task's (see ``onnxplain.runtime.tasks``): int64 [batch] label indices for classifiers
        and language models, [batch, 2] answer start and end tokens for question answering; -1 = predicted.
        Returns ``logits`` and each method's relevance [batch, seq]. Only the parts of the graph these outputs
        need are run.
        """
        methods = self.methods if methods is None else (methods,) if isinstance(methods, str) else methods
        for method in methods:
            self.check_method(method)
        input_ids = np.ascontiguousarray(input_ids, dtype=np.int64)
        if input_ids.ndim != 2 or np.shape(attention_mask) != input_ids.shape:
            raise UserError(
                f"input_ids {input_ids.shape} and attention_mask {np.shape(attention_mask)} must be "
                "[batch, sequence] arrays of the same shape"
            )
        feeds = {
            INPUT_IDS: input_ids,
            ATTENTION_MASK: np.ascontiguousarray(attention_mask, dtype=np.int64),
            TARGET: self.task.check_target(target, input_ids.shape),
        }
        if TOKEN_TYPE_IDS in self.manifest.inputs:
            types = np.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            feeds[TOKEN_TYPE_IDS] = np.ascontiguousarray(types, dtype=np.int64)
        if head_mask is not None:
            feeds[HEAD_MASK] = self.check_head_mask(head_mask)
        names = [LOGITS] + [self.manifest.output_name(m) for m in methods]
        default_mask = np.asarray(self.manifest.default_head_mask, dtype=np.float32)
        rows = self.memory.rows_per_call(methods, len(input_ids), input_ids.shape[1])  # within the memory budget
        values = self._run_rows(names, feeds, {HEAD_MASK: default_mask}, rows, methods)
        outputs = {LOGITS: values[0]}
        outputs.update(zip(methods, values[1:], strict=True))
        return outputs

    def _run_rows(
        self,
        names: list[str],
        feeds: dict[str, np.ndarray],
        defaults: dict[str, np.ndarray],
        rows: int,
        methods: Sequence[str],
    ) -> list[np.ndarray]:
        """The session's outputs, computed ``rows`` examples at a time and joined (every output of an
        example depends on that example alone); ``head_mask`` is the one feed without a batch axis."""
        batch = len(feeds[INPUT_IDS])
        parts = []
        for first in range(0, batch, rows):
            part = (
                feeds
                if rows >= batch
                else {k: v if k == HEAD_MASK else v[first : first + rows] for k, v in feeds.items()}
            )
            shape = part[INPUT_IDS].shape
            run = functools.partial(self._sessions.run, names, part, defaults=defaults)
            parts.append(self.memory.run_call(methods, shape[0], shape[1], run))
        return parts[0] if len(parts) == 1 else [np.concatenate(values) for values in zip(*parts, strict=True)]

    def check_method(self, method: str) -> None:
        """Refuse an unknown method; warn (``FidelityWarning``, once per method) about one that this
        reduced-precision artifact does not recommend."""
        if method not in self.methods:
            raise UserError(f"unknown method {method!r}; this artifact offers {', '.join(self.methods)}")
        caveat = self.not_recommended.get(method)
        if caveat and method not in self._warned:
            self._warned.add(method)
            warnings.warn(caveat, FidelityWarning, stacklevel=3)

    def check_head_mask(self, head_mask: np.ndarray) -> np.ndarray:
        mask = np.ascontiguousarray(head_mask, dtype=np.float32)
        shape = (self.manifest.num_layers, self.manifest.num_heads)
        if mask.shape != shape:
            raise UserError(f"head mask has shape {mask.shape}; this model needs [layers, heads] = {shape}")
        return mask

    def _metadata(self, method: str, head_mask: np.ndarray | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"device": self.device.name, "max_length": self.max_length}
        if self.device.note:
            metadata["device_note"] = self.device.note
        if self.manifest.methods[method].reads_head_mask:
            metadata["head_mask"] = "caller's" if head_mask is not None else "artifact default"
        if method in self.not_recommended:
            metadata["not_recommended"] = self.not_recommended[method]
        return metadata
