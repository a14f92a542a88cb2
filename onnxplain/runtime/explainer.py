"""``Explainer``: load an artifact and explain texts with it, on CPU or CUDA, without PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onnxplain.errors import UserError
from onnxplain.runtime.artifact import (
    ATTENTION_MASK,
    HEAD_MASK,
    HEAD_MASKED_METHODS,
    INPUT_IDS,
    LOGITS,
    MODEL_FILE,
    PREDICTED_TARGET,
    TARGET,
    TOKEN_TYPE_IDS,
    TOKENIZER_FILE,
    Manifest,
    read_manifest,
)
from onnxplain.runtime.question_answering import QUESTION_ANSWERING, answer_span_target
from onnxplain.runtime.results import Explanation, explanation
from onnxplain.runtime.sessions import Device, SessionPool, choose_device
from onnxplain.runtime.tokenization import TextEncoding, TextTokenizer, pad

Target = str | int | None


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
        self._tokenizer = TextTokenizer(directory / TOKENIZER_FILE, max_length)

    @classmethod
    def load(
        cls,
        artifact_dir: str | Path,
        device: str = "cpu",
        batch_size: int = 16,
        max_length: int | None = None,
        intra_op_threads: int | None = None,
        cached_sessions: int = 4,
    ) -> Explainer:
        """Load an artifact. ``device``: ``cpu``, ``cuda`` or ``auto`` (CUDA when usable, else CPU).

        ``batch_size`` texts go into one ONNX Runtime call; ``max_length`` (tokens, at most the model's
        limit, which is the default) is where longer texts are cut. ``cached_sessions`` is how many sets of
        outputs (method combinations) keep a built session; asking for one more rebuilds the least recently
        used, which takes seconds.
        """
        directory = Path(artifact_dir)
        manifest = read_manifest(directory)
        if batch_size < 1:
            raise UserError(f"batch size {batch_size} is not positive; use 1 or more")
        limit = manifest.max_length
        if max_length is not None and not 2 < max_length <= limit:
            raise UserError(f"max length {max_length} is outside 3..{limit} (the model's limit); pick one inside")
        if cached_sessions < 1:
            raise UserError(f"cached sessions {cached_sessions} is not positive; use 1 or more")
        sessions = SessionPool(directory / MODEL_FILE, choose_device(device), intra_op_threads, cached_sessions)
        explainer = cls(directory, manifest, sessions, batch_size, max_length or limit)
        # build the most likely session now, so a device problem shows at load time, not at the first text
        sessions.session((LOGITS, manifest.methods[explainer.default_method]))
        return explainer

    @property
    def device(self) -> Device:
        return self._sessions.device

    @property
    def labels(self) -> dict[int, str]:
        return dict(self.manifest.labels)

    @property
    def default_method(self) -> str:
        return "mask-lrp" if "mask-lrp" in self.methods else self.methods[0]

    def tokenize(self, texts: str | Sequence[str]) -> list[TextEncoding]:
        """Token ids, character offsets, special-token mask and word ids of each text (see tokenization)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise UserError(f"text {index} is a {type(text).__name__}, not a string; pass strings")
            if not text.strip():
                raise UserError(f"text {index} is empty; give each text at least one word")
        return self._tokenizer.encode(texts)

    def explain(
        self,
        texts: str | Sequence[str],
        method: str = "mask-lrp",
        target: Target | Sequence[Target] = None,
        head_mask: np.ndarray | None = None,
    ) -> list[Explanation]:
        """Explain each text with ``method``; ``target``: None (= predicted), a label, or one per text."""
        encodings = self.tokenize(texts)
        return self.explain_encodings(encodings, method, self.target_indices(target, len(encodings)), head_mask)

    def explain_encodings(
        self,
        encodings: Sequence[TextEncoding],
        method: str,
        targets: np.ndarray,
        head_mask: np.ndarray | None = None,
    ) -> list[Explanation]:
        """Explain tokenized texts: batches of similar length, each padded to its longest, in input order."""
        self.check_method(method)
        results: list[Explanation | None] = [None] * len(encodings)
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i]), reverse=True)
        metadata = self._metadata(method, head_mask)
        for first in range(0, len(order), self.batch_size):
            rows = order[first : first + self.batch_size]
            batch = [encodings[i] for i in rows]
            input_ids, attention_mask = pad(batch, self.manifest.pad_token_id)
            outputs = self.run(input_ids, attention_mask, (method,), targets[rows], head_mask)
            for row, index in enumerate(rows):
                results[index] = explanation(
                    encodings[index],
                    outputs[method][row],
                    outputs[LOGITS][row],
                    int(targets[index]),
                    method,
                    self.manifest.labels,
                    metadata,
                )
        return [r for r in results if r is not None]

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

        ``target``: int64 [batch], -1 = the predicted label. Returns ``logits`` [batch, labels] and each
        method's relevance [batch, seq]. Only the parts of the graph these outputs need are run. Question
        answering artifacts take ``target`` [batch, 2] (answer start and end token, -1 = predicted) and
        return ``logits`` [batch, seq, 2]; see ``question_answering.explain_answers``.
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
        batch = input_ids.shape[0]
        if self.manifest.task == QUESTION_ANSWERING:
            target = answer_span_target(target, input_ids.shape)
        else:
            target = self.class_target(target, batch)
        feeds = {
            INPUT_IDS: input_ids,
            ATTENTION_MASK: np.ascontiguousarray(attention_mask, dtype=np.int64),
            TARGET: target,
        }
        if TOKEN_TYPE_IDS in self.manifest.inputs:
            types = np.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            feeds[TOKEN_TYPE_IDS] = np.ascontiguousarray(types, dtype=np.int64)
        if head_mask is not None:
            feeds[HEAD_MASK] = self.check_head_mask(head_mask)
        names = [LOGITS] + [self.manifest.methods[m] for m in methods]
        default_mask = np.asarray(self.manifest.default_head_mask, dtype=np.float32)
        values = self._sessions.run(names, feeds, defaults={HEAD_MASK: default_mask})
        outputs = {LOGITS: values[0]}
        outputs.update(zip(methods, values[1:], strict=True))
        return outputs

    def class_target(self, target: np.ndarray | None, batch: int) -> np.ndarray:
        """The ``target`` input of a classifier or language model: one label index per example."""
        if target is None:
            target = np.full(batch, PREDICTED_TARGET, dtype=np.int64)
        target = np.ascontiguousarray(target, dtype=np.int64).reshape(-1)
        if target.shape != (batch,) or np.any((target < PREDICTED_TARGET) | (target >= len(self.labels))):
            raise UserError(
                f"target must hold one label index per example (0..{len(self.labels) - 1}, or -1 for the "
                f"predicted label), got {target.tolist()}"
            )
        return target

    def target_indices(self, target: Target | Sequence[Target], count: int) -> np.ndarray:
        """Label indices (-1 = predicted) for ``count`` texts from None, a label, or one label per text."""
        if isinstance(target, str | int | np.integer) or target is None:
            targets: list[Target] = [target] * count
        else:
            targets = list(target)
            if len(targets) != count:
                raise UserError(f"{len(targets)} targets were given for {count} texts; give one per text")
        indices = []
        for label in targets:
            if label is None:
                indices.append(PREDICTED_TARGET)
                continue
            try:
                indices.append(self.manifest.label_index(int(label) if isinstance(label, np.integer) else label))
            except KeyError as error:
                raise UserError(f"{error.args[0]}; pass one of them as the target") from None
        return np.asarray(indices, dtype=np.int64)

    def check_method(self, method: str) -> None:
        if method not in self.methods:
            raise UserError(f"unknown method {method!r}; this artifact offers {', '.join(self.methods)}")

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
        if method in HEAD_MASKED_METHODS:
            metadata["head_mask"] = "caller's" if head_mask is not None else "artifact default"
        return metadata
