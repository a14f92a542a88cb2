"""Read a Hugging Face model directory (sequence classifier or causal language model) into canonical weights."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxplain.errors import UserError
from onnxplain.export.architectures import EncoderWeights, read_weights
from onnxplain.export.architectures.decoders import DecoderWeights
from onnxplain.runtime.tasks import CAUSAL_LM, QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# task -> the transformers auto class that loads it
AUTO_CLASSES = {
    SEQUENCE_CLASSIFICATION: "AutoModelForSequenceClassification",
    CAUSAL_LM: "AutoModelForCausalLM",
    QUESTION_ANSWERING: "AutoModelForQuestionAnswering",
}
# checkpoint class name suffix -> task
TASK_SUFFIXES = (
    ("ForSequenceClassification", SEQUENCE_CLASSIFICATION),
    ("ForCausalLM", CAUSAL_LM),
    ("LMHeadModel", CAUSAL_LM),
    ("ForQuestionAnswering", QUESTION_ANSWERING),
)


@dataclass(frozen=True)
class Checkpoint:
    directory: Path
    model_type: str
    config: Any
    weights: EncoderWeights | DecoderWeights
    labels: dict[int, str]
    weights_sha256: str
    max_positions: int
    task: str = SEQUENCE_CLASSIFICATION


def weights_checksum(directory: Path) -> str:
    """sha256 of the weight files (sharded checkpoints: of all shards in name order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.iterdir() if p.suffix in (".safetensors", ".bin"))
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def task_of(config: Any) -> str:
    """The task a checkpoint was saved for, from its class name (``config.architectures``)."""
    for name in getattr(config, "architectures", None) or ():
        for suffix, task in TASK_SUFFIXES:
            if name.endswith(suffix):
                return task
    return SEQUENCE_CLASSIFICATION


def max_positions_of(weights: EncoderWeights | DecoderWeights, config: Any) -> int:
    """Longest input the position scheme allows."""
    if weights.position_embeddings is None:  # rotary positions: the length the model was trained for
        return int(config.max_position_embeddings)
    positions = int(weights.position_embeddings.shape[0])
    if isinstance(weights, EncoderWeights) and weights.position_scheme == "after-padding":
        positions -= weights.position_padding_id + 1
    return positions


SPECIAL_TOKEN_ROLES = ("cls_token", "sep_token", "bos_token", "eos_token", "pad_token")


def special_token_ids(directory: Path, config: Any) -> tuple[int, ...]:
    """Ids of the tokens a tokenizer adds around a text (class, separator, start, end) and of padding:
    the tokens that the deletion protocol never removes. From the tokenizer beside the weights, else from
    the config's ids."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
        ids = {getattr(tokenizer, f"{role}_id", None) for role in SPECIAL_TOKEN_ROLES}
    except (OSError, ValueError):
        ids = {getattr(config, f"{role}_id", None) for role in SPECIAL_TOKEN_ROLES}
    return tuple(sorted(int(i) for i in ids if i is not None))


def load_checkpoint(model_dir: str | Path, task: str | None = None) -> Checkpoint:
    """Load a model directory (config + weights) for ``task`` (default: the one its class names); a clear
    ``UserError`` for anything unusable."""
    import transformers

    directory = Path(model_dir)
    if not (directory / "config.json").is_file():
        raise UserError(f"{directory} has no config.json; pass a Hugging Face model directory")
    config = transformers.AutoConfig.from_pretrained(directory)
    task = task or task_of(config)
    if task not in AUTO_CLASSES:
        raise UserError(f"unknown task {task!r}; choose from {', '.join(AUTO_CLASSES)}")
    auto = getattr(transformers, AUTO_CLASSES[task])
    try:
        model = auto.from_pretrained(directory, attn_implementation="eager")
    except (OSError, ValueError) as error:
        raise UserError(f"could not load {directory} for {task}: {error}") from None
    state = model.state_dict()
    weights = read_weights(config.model_type, config, state, task)
    weights = dataclasses.replace(weights, special_token_ids=special_token_ids(directory, config))
    labels = {int(i): str(name) for i, name in model.config.id2label.items()}
    if task == QUESTION_ANSWERING:
        labels = {0: "start", 1: "end"}
    return Checkpoint(
        directory=directory,
        model_type=config.model_type,
        config=model.config,
        weights=weights,
        labels=labels,
        weights_sha256=weights_checksum(directory),
        max_positions=max_positions_of(weights, model.config),
        task=task,
    )
