"""Read a Hugging Face sequence-classification directory into canonical weights."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxplain.errors import UserError
from onnxplain.export.architectures import EncoderWeights, read_weights

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Checkpoint:
    directory: Path
    model_type: str
    config: Any
    weights: EncoderWeights
    labels: dict[int, str]
    weights_sha256: str
    max_positions: int


def weights_checksum(directory: Path) -> str:
    """sha256 of the weight files (sharded checkpoints: of all shards in name order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.iterdir() if p.suffix in (".safetensors", ".bin"))
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_checkpoint(model_dir: str | Path) -> Checkpoint:
    """Load a classifier directory (config + weights); a clear ``UserError`` for anything unusable."""
    import transformers

    directory = Path(model_dir)
    if not (directory / "config.json").is_file():
        raise UserError(f"{directory} has no config.json; pass a Hugging Face model directory")
    config = transformers.AutoConfig.from_pretrained(directory)
    try:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(directory, attn_implementation="eager")
    except (OSError, ValueError) as error:
        raise UserError(f"could not load {directory} as a sequence classifier: {error}") from None
    state = model.state_dict()
    weights = read_weights(config.model_type, config, state)
    labels = {int(i): str(name) for i, name in model.config.id2label.items()}
    max_positions = int(weights.position_embeddings.shape[0])
    if weights.position_scheme == "after-padding":
        max_positions -= weights.position_padding_id + 1
    return Checkpoint(
        directory=directory,
        model_type=config.model_type,
        config=model.config,
        weights=weights,
        labels=labels,
        weights_sha256=weights_checksum(directory),
        max_positions=max_positions,
    )
