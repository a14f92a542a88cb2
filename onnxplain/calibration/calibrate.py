"""Calibration end to end: corpus -> parse -> attention pass -> statistics -> head mask, with provenance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from onnxplain.calibration.corpus import corpus_sha256, read_corpus
from onnxplain.calibration.dependencies import RELATIONS, load_parser, parse_arcs
from onnxplain.calibration.selection import (
    DEFAULT_MODE,
    MODES,
    Thresholds,
    kept_head_list,
    positional_heads,
    select_heads,
    syntactic_heads,
)
from onnxplain.errors import UserError


@dataclass(frozen=True)
class Calibration:
    """Statistics of every head on a corpus and the mask they select."""

    accuracy: np.ndarray  # float64 [layers, heads, relations], NaN where a relation had no arcs
    arcs_per_relation: list[int]
    positional_offset: np.ndarray  # int64 [layers, heads]
    positional_frequency: np.ndarray  # float64 [layers, heads]
    positional_rows: int
    mask: np.ndarray  # float32 [layers, heads], 1 = kept
    mode: str
    thresholds: Thresholds
    seed: int
    corpus: dict[str, Any]  # path, sha256, sentences
    model_dir: str

    def kept_by_mode(self) -> dict[str, int]:
        """How many heads each selection mode keeps with these statistics and thresholds."""
        return {
            mode: int(
                select_heads(self.accuracy, self.positional_frequency, mode=mode, thresholds=self.thresholds).sum()
            )
            for mode in MODES
        }

    def statistics_json(self) -> dict[str, Any]:
        """Everything needed to see which heads were kept and why (NaN written as null)."""
        syntactic = syntactic_heads(self.accuracy, self.thresholds)
        positional = positional_heads(self.positional_frequency, self.thresholds)
        return {
            "relations": list(RELATIONS),
            "arcs": dict(zip(RELATIONS, self.arcs_per_relation, strict=True)),
            "positional_rows": self.positional_rows,
            "syntactic_accuracy": {relation: _rounded(self.accuracy[:, :, r]) for r, relation in enumerate(RELATIONS)},
            "positional_offset": self.positional_offset.tolist(),
            "positional_frequency": _rounded(self.positional_frequency),
            "syntactic_heads": kept_head_list(syntactic),
            "positional_heads": kept_head_list(positional),
            "kept_by_mode": self.kept_by_mode(),
        }

    def provenance(self) -> dict[str, Any]:
        """Where the mask came from, for the artifact manifest's ``head_mask`` entry."""
        return {
            "source": "calibration",
            "mode": self.mode,
            "seed": self.seed,
            "thresholds": self.thresholds.to_json(),
            "corpus": dict(self.corpus),
            "model_dir": self.model_dir,
            "kept_heads": kept_head_list(self.mask),
            "statistics": self.statistics_json(),
        }


def calibrate(
    model_dir: str | Path,
    corpus_path: str | Path,
    *,
    mode: str = DEFAULT_MODE,
    thresholds: Thresholds | dict[str, float] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    limit: int | None = None,
    text_column: str | None = None,
    max_length: int | None = None,
    progress: bool = True,
    text_column_option: str = "--text-column",
) -> Calibration:
    """Compute the head statistics of the model in ``model_dir`` on the corpus and select its heads."""
    from onnxplain.calibration.attention_pass import collect_head_statistics

    if mode not in MODES:
        raise UserError(f"unknown head selection mode {mode!r}; use one of {', '.join(MODES)}")
    if not isinstance(thresholds, Thresholds):
        thresholds = Thresholds.from_mapping(thresholds)
    if batch_size < 1:
        raise UserError(f"batch size {batch_size} is not positive; pass --batch-size 1 or more")
    if limit is not None and limit < 1:
        raise UserError(f"sentence limit {limit} is not positive; pass --limit 1 or more, or leave it out")
    if max_length is not None and max_length < 3:
        raise UserError(f"maximum length {max_length} leaves no room for text; pass --max-length 3 or more")
    texts = read_corpus(corpus_path, text_column=text_column, limit=limit, option=text_column_option)
    model, tokenizer = load_model(model_dir)
    arcs = list(parse_arcs(texts, load_parser(), progress=progress))
    statistics = collect_head_statistics(
        model, tokenizer, texts, arcs, batch_size=batch_size, max_length=max_length, progress=progress
    )
    accuracy = statistics.syntactic_accuracy()
    frequency = statistics.positional_frequency()
    return Calibration(
        accuracy=accuracy,
        arcs_per_relation=[int(n) for n in statistics.syntactic_arcs],
        positional_offset=statistics.positional_offset(),
        positional_frequency=frequency,
        positional_rows=statistics.positional_rows,
        mask=select_heads(accuracy, frequency, mode=mode, thresholds=thresholds, seed=seed),
        mode=mode,
        thresholds=thresholds,
        seed=seed,
        corpus={"path": str(corpus_path), "sha256": corpus_sha256(corpus_path), "sentences": len(texts)},
        model_dir=str(model_dir),
    )


def calibrate_for_export(
    model_dir: str | Path,
    corpus_path: str | Path,
    *,
    mode: str = DEFAULT_MODE,
    thresholds: Thresholds | dict[str, float] | None = None,
    seed: int = 0,
    **options: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The float32 0/1 head mask ``[layers, heads]`` and its provenance dict (mode, thresholds, corpus path,
    sha256 and size, kept heads as ``[layer, head]`` pairs, statistics). ``options`` go to ``calibrate``
    (batch_size, limit, text_column, max_length, progress)."""
    options.setdefault("text_column_option", "--calibration-text-column")  # what errors name: export's option
    calibration = calibrate(model_dir, corpus_path, mode=mode, thresholds=thresholds, seed=seed, **options)
    return calibration.mask, calibration.provenance()


def load_model(model_dir: str | Path):
    """The Hugging Face model (eager attention, evaluation mode) and its fast tokenizer."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir} has no config.json; pass a Hugging Face model directory")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not tokenizer.is_fast:
        raise UserError(
            f"the tokenizer in {model_dir} is a slow (Python) tokenizer without character offsets; "
            "save a fast tokenizer (tokenizer.json) in the model directory"
        )
    if tokenizer.pad_token is None:  # decoders such as GPT-2 have none; padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    # A classifier's directory loads into its bare encoder; the report of its unused head is noise here.
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model = AutoModel.from_pretrained(model_dir, attn_implementation="eager")
    finally:
        transformers_logging.set_verbosity(verbosity)
    model.eval()
    return model, tokenizer


def _rounded(values: np.ndarray, digits: int = 4) -> list[list[float | None]]:
    return [[None if np.isnan(v) else round(float(v), digits) for v in row] for row in values]
