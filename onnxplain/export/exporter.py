"""``export_model``: a Hugging Face classifier directory in, an explainer artifact directory out."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onnxplain import __version__
from onnxplain.errors import UserError
from onnxplain.runtime import artifact
from onnxplain.runtime.tasks import CAUSAL_LM

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 18
EXTERNAL_DATA_THRESHOLD = 1_800_000_000  # bytes; protobuf cannot hold a model of 2 GB or more


def resolve_default_method(default_method: str | None, chosen: Sequence[str]) -> str:
    """The artifact's default method: the one given, else the first exported in registry order."""
    if default_method is None:
        return chosen[0]
    if default_method not in chosen:
        raise UserError(
            f"the default method {default_method!r} is not among the exported methods ({', '.join(chosen)}); "
            "export it too or pick one of them"
        )
    return default_method


def resolve_head_mask(head_mask: Any, layers: int, heads: int) -> np.ndarray:
    if head_mask is None:
        return np.ones((layers, heads), dtype=np.float32)
    mask = np.asarray(head_mask, dtype=np.float32)
    if mask.shape != (layers, heads) or not np.isin(mask, (0.0, 1.0)).all():
        raise UserError(
            f"the head mask must be a {layers}x{heads} matrix of 0 and 1 (layers x heads of this model), "
            f"got shape {mask.shape}"
        )
    return mask


def write_tokenizer(model_dir: Path, out_dir: Path, max_length: int) -> int:
    """Write tokenizer.json with no padding and truncation at the manifest's ``max_length`` (a checkpoint's
    own file may pad or cut to another length, which a consumer that does not reset it would inherit);
    returns the pad token id."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as error:
        raise UserError(f"{model_dir} has no usable tokenizer ({error}); save the tokenizer beside the model") from None
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"the tokenizer of {model_dir} is not a fast tokenizer; onnxplain needs tokenizer.json")
    if (model_dir / artifact.TOKENIZER_FILE).is_file():
        shutil.copy(model_dir / artifact.TOKENIZER_FILE, out_dir / artifact.TOKENIZER_FILE)
    else:
        tokenizer.backend_tokenizer.save(str(out_dir / artifact.TOKENIZER_FILE))
    portable = Tokenizer.from_file(str(out_dir / artifact.TOKENIZER_FILE))
    portable.no_padding()
    portable.enable_truncation(max_length)
    portable.save(str(out_dir / artifact.TOKENIZER_FILE))
    return int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)


def token_labels(model_dir: Path, vocabulary: int) -> dict[int, str]:
    """A causal language model's labels are its tokens: index -> token string (``[id]`` for ids the
    tokenizer does not know), so targets can be given as token strings."""
    from transformers import AutoTokenizer

    tokens = AutoTokenizer.from_pretrained(model_dir).convert_ids_to_tokens(list(range(vocabulary)))
    return {i: token if token is not None else f"[{i}]" for i, token in enumerate(tokens)}


def explained_position(weights: Any) -> str:
    """The manifest's ``explained_position``: which token's final state the logits read."""
    from onnxplain.export.architectures.decoders import DecoderWeights

    if isinstance(weights, DecoderWeights):
        return artifact.LAST_REAL_TOKEN
    return artifact.ANSWER_START_AND_END if weights.span_head is not None else artifact.FIRST_TOKEN


def finish_onnx(path: Path, manifest: artifact.Manifest) -> list[str]:
    """Store the manifest (less the file records, which would have to hold the model's own hash) in the
    model's metadata, so that model.onnx alone describes itself; returns the files written.

    ``head_mask`` stays a required graph input (format version 2): version 1 gave it a default as an
    initializer of the same name, which onnxruntime-node silently ignores when fed and onnxruntime-web
    refuses, so the same artifact explained differently by language. Every consumer now feeds it, the
    manifest's ``head_mask.default`` unless it overrides the mask."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        # torch.onnx's provenance of each node (namespace, FX node, class hierarchy): no consumer reads it,
        # and it is about 8 MB of MiniLM's graph, a quarter of its int8 artifact
        del node.metadata_props[:]
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = artifact.METADATA_KEY, json.dumps(manifest.to_json(with_files=False))
    model.producer_name, model.producer_version = "onnxplain", __version__
    large = model.ByteSize() > EXTERNAL_DATA_THRESHOLD
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=large,
        all_tensors_to_one_file=True,
        location=artifact.EXTERNAL_DATA_FILE,
    )
    return [artifact.MODEL_FILE, artifact.EXTERNAL_DATA_FILE] if large else [artifact.MODEL_FILE]


def check_precision_request(precision: str, fidelity_data: str | Path | None) -> None:
    from onnxplain.export.precision import PRECISIONS

    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision != "fp32" and (fidelity_data is None or not Path(fidelity_data).is_file()):
        raise UserError(
            f"a {precision} artifact is measured against fp32 on labelled held-out texts; pass --fidelity-data "
            "with a CSV of text and label columns (e.g. a build's heldout.csv)"
        )


def reduce_checked(
    fp32_dir: Path,
    out_dir: Path,
    precision: str,
    fidelity_data: Path,
    fidelity_limit: int,
    weights: Any,
    has_token_types: bool,
) -> None:
    """Write the ``precision`` artifact of the checked fp32 artifact in ``fp32_dir``, checked against PyTorch
    at the precision's tolerance and measured against fp32 on ``fidelity_data``."""
    from onnxplain.export.precision import held_out_texts, reduce_artifact
    from onnxplain.export.verify import errors_against_eager

    manifest = artifact.read_manifest(fp32_dir)
    texts = held_out_texts(fidelity_data, manifest, fp32_dir / artifact.TOKENIZER_FILE, fidelity_limit)

    def check(model_path: Path, methods: Sequence[str]) -> dict[str, bool]:
        checks = errors_against_eager(weights, methods, has_token_types, model_path, precision=precision)
        return {name: result.passed for name, result in checks.items()}

    description = {"path": str(fidelity_data.resolve()), "texts": len(texts), "min_tokens": 20}
    reduce_artifact(fp32_dir, out_dir, precision, texts, description, check, progress=logger.info)


def export_model(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    methods: Sequence[str] | None = None,
    head_mask: Any = None,
    head_mask_source: str | dict[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    max_length: int | None = None,
    task: str | None = None,
    default_method: str | None = None,
    precision: str = "fp32",
    fidelity_data: str | Path | None = None,
    fidelity_limit: int = 200,
) -> Path:
    """Export a Hugging Face sequence classifier or causal language model as an explainer artifact in
    ``out_dir``. ``task`` (``sequence-classification``, ``causal-lm`` or ``question-answering``) defaults to
    the one the checkpoint's class names. ``methods``: names of the registry (``onnxplain.export.registry``),
    default all; ``default_method``: the one consumers use when none is asked for (default: the first
    exported, in registry order).

    The graph is checked against eager PyTorch in ONNX Runtime at two shapes other than the one it was
    traced at; a mismatch raises ``ExportMismatch`` and leaves no artifact behind. ``precision`` ``int8`` or
    ``fp16`` writes a reduced artifact instead, derived from the checked fp32 graph, checked against PyTorch
    at its precision's tolerance and measured against fp32 on the labelled held-out texts of
    ``fidelity_data`` (the first ``fidelity_limit`` of at least 20 tokens; see ``precision``).
    """
    import onnx
    import onnxruntime
    import torch
    import transformers

    from onnxplain.export import graph
    from onnxplain.export.checkpoint import load_checkpoint
    from onnxplain.export.registry import resolve_methods
    from onnxplain.export.verify import check_against_eager

    started = time.perf_counter()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    check_precision_request(precision, fidelity_data)
    checkpoint = load_checkpoint(model_dir, task)
    weights = checkpoint.weights
    chosen = resolve_methods(methods)
    names = [m.name for m in chosen]
    default = resolve_default_method(default_method, names)
    mask = resolve_head_mask(head_mask, weights.num_layers, weights.num_heads)
    length = min(max_length or checkpoint.max_positions, checkpoint.max_positions)
    has_token_types = weights.token_type_embeddings is not None
    provenance = head_mask_source if isinstance(head_mask_source, dict) else {"source": head_mask_source}
    if provenance.get("source") is None:
        provenance["source"] = "all heads kept (no mask given)" if head_mask is None else "given by the caller"

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as scratch:
        work = Path(scratch)
        pad_token_id = write_tokenizer(model_dir, work, length)
        graph.export_onnx(weights, names, has_token_types, work / artifact.MODEL_FILE, opset)
        manifest = artifact.Manifest(
            architecture=checkpoint.model_type,
            task=checkpoint.task,
            labels=token_labels(model_dir, weights.num_labels) if checkpoint.task == CAUSAL_LM else checkpoint.labels,
            inputs=graph.input_names(has_token_types),
            methods={m.name: m.record() for m in chosen},
            default_method=default,
            explained_position=explained_position(weights),
            head_mask={
                "default": mask.astype(int).tolist(),
                "kept": [[int(layer), int(head)] for layer, head in zip(*np.nonzero(mask), strict=True)],
                **provenance,
            },
            max_length=length,
            num_layers=weights.num_layers,
            num_heads=weights.num_heads,
            pad_token_id=pad_token_id,
            versions={
                "onnxplain": __version__,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "onnx": onnx.__version__,
                "onnxruntime": onnxruntime.__version__,
                "opset": str(opset),
            },
            source={"model_dir": str(model_dir.resolve()), "weights_sha256": checkpoint.weights_sha256},
        )
        model_files = finish_onnx(work / artifact.MODEL_FILE, manifest)
        files = artifact.record_files(work, [*model_files, artifact.TOKENIZER_FILE])
        artifact.write_manifest(work, dataclasses.replace(manifest, files=files))
        check_against_eager(weights, names, has_token_types, work / artifact.MODEL_FILE)
        if precision != "fp32":
            assert fidelity_data is not None
            reduce_checked(work, out_dir, precision, Path(fidelity_data), fidelity_limit, weights, has_token_types)
        else:
            for produced in work.iterdir():
                shutil.move(str(produced), out_dir / produced.name)
    logger.info("exported %s to %s in %.1f s", model_dir, out_dir, time.perf_counter() - started)
    return out_dir
