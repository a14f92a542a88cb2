"""The standard forward: the yardstick a team that only wants predictions deploys.

The same checkpoint exported the standard way, ``torch.onnx.export`` of the Hugging Face model (the
TorchScript exporter, eager attention: the route ONNX Runtime's transformer optimiser recognises) and then
``onnxruntime.transformers.optimizer`` with the model type of its family, which fuses attention, LayerNorm,
residual adds and GELU. The int8 variant is ONNX Runtime's dynamic quantisation of that optimised graph (int8
weights of the matrix products), what ``onnxruntime.quantization`` gives a team that wants a smaller model; the
fp16 variant is the optimiser's own half-precision conversion (for GPUs).

Built once per checkpoint and cached next to onnxplain's other builds (``$ONNXPLAIN_CACHE/standard-forward``,
by default ``~/.cache/onnxplain/standard-forward``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from onnxplain.errors import UserError

OPTIMISER_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "electra": "bert", "distilbert": "bert", "mpnet": "bert"}
PRECISIONS = ("fp32", "fp16", "int8")
EXPORT_OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class StandardForward:
    """An optimised standard ONNX export of one checkpoint: where it is and which inputs it reads."""

    path: Path
    inputs: tuple[str, ...]
    fused: dict[str, int]  # node counts by operator type after the optimiser


def checkpoint_key(model_dir: Path) -> str:
    """A digest of the checkpoint's config and weights: the cache folder's name."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = model_dir / name
        if path.is_file():
            digest.update(name.encode())
            with open(path, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 24), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def export_standard(model_dir: Path, path: Path) -> tuple[str, ...]:
    """``torch.onnx.export`` (TorchScript exporter) of the Hugging Face classifier, dynamic batch and sequence;
    returns the graph's input names."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
    names = INPUTS if getattr(model.config, "type_vocab_size", 0) > 0 else INPUTS[:2]
    ids = torch.ones(2, 16, dtype=torch.int64)
    example = tuple(torch.zeros_like(ids) if name == "token_type_ids" else ids for name in names)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=list(names),
            output_names=["logits"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}},
            opset_version=EXPORT_OPSET,
            dynamo=False,
        )
    return names


def optimise(source: Path, target: Path, config: dict) -> dict[str, int]:
    """``onnxruntime.transformers.optimizer`` with the family's model type; returns node counts by type."""
    from onnxruntime.transformers.optimizer import optimize_model

    model_type = OPTIMISER_MODEL_TYPES.get(config.get("model_type", ""), "bert")
    optimised = optimize_model(
        str(source),
        model_type=model_type,
        num_heads=int(config.get("num_attention_heads", 0)),
        hidden_size=int(config.get("hidden_size", 0)),
    )
    optimised.save_model_to_file(str(target))
    counts: dict[str, int] = {}
    for node in optimised.model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def quantise_int8(source: Path, target: Path) -> None:
    """ONNX Runtime's dynamic quantisation: int8 weights for every MatMul (and fused Attention)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The fused operators are of ONNX Runtime's own domain, whose outputs ONNX shape inference cannot type.
    options = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, extra_options=options)


def half_precision(source: Path, target: Path) -> None:
    """The optimised graph in fp16, inputs and outputs kept as they are (ONNX Runtime's converter)."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(source)))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(target))


def standard_forward(
    model_dir: str | Path,
    precision: str = "fp32",
    cache: Path | None = None,
    progress: Callable[[str], object] = print,
) -> StandardForward:
    """The optimised standard export of ``model_dir`` (built on first use, then read from ``cache``)."""
    from onnxplain.recipes.fetch import cache_dir

    model_dir = Path(model_dir)
    cache = (cache_dir() if cache is None else cache) / "standard-forward"
    if precision not in PRECISIONS:
        raise UserError(f"the standard forward comes in {', '.join(PRECISIONS)}, not {precision!r}")
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise UserError(f"{model_dir} is not a Hugging Face model directory (no config.json); pass the source model")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("model_type") not in OPTIMISER_MODEL_TYPES:
        raise UserError(
            f"the standard forward yardstick covers encoder classifiers ({', '.join(OPTIMISER_MODEL_TYPES)}), "
            f"not {config.get('model_type')!r}; pass --no-standard"
        )
    folder = cache / checkpoint_key(model_dir)
    info_path = folder / "standard.json"
    if not info_path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        progress(f"building the standard forward of {model_dir} (torch.onnx.export + ORT optimiser) in {folder}")
        names = export_standard(model_dir, folder / "exported.onnx")
        fused = optimise(folder / "exported.onnx", folder / "fp32.onnx", config)
        (folder / "exported.onnx").unlink()
        info_path.write_text(json.dumps({"inputs": list(names), "fused": fused}, indent=2), encoding="utf-8")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    path = folder / f"{precision}.onnx"
    if not path.is_file() and precision == "int8":
        quantise_int8(folder / "fp32.onnx", path)
    elif not path.is_file():
        half_precision(folder / "fp32.onnx", path)
    return StandardForward(path, tuple(info["inputs"]), dict(info["fused"]))
