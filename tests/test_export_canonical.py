"""The canonical encoder reproduces Hugging Face's logits for every supported BERT-family architecture."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from onnxplain.errors import UserError
from onnxplain.export.checkpoint import load_checkpoint
from onnxplain.export.encoder import encode
from onnxplain.export.rulesets import Gradient
from tests.tiny_models import build_tiny_classifier


@pytest.mark.parametrize("architecture", ["bert", "roberta", "electra", "distilbert"])
def test_canonical_forward_matches_hugging_face(architecture: str, tmp_path: Path) -> None:
    import transformers

    model_dir = build_tiny_classifier(tmp_path / architecture, architecture, seed=3)
    checkpoint = load_checkpoint(model_dir)
    reference = transformers.AutoModelForSequenceClassification.from_pretrained(
        model_dir, attn_implementation="eager"
    ).eval()
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1000, 30000, (3, 11), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 7:] = 0
    input_ids[1, 7:] = 0
    with torch.no_grad():
        expected = reference(input_ids=input_ids, attention_mask=attention_mask).logits
    heads = torch.ones(checkpoint.weights.num_layers, checkpoint.weights.num_heads)
    trace = encode(checkpoint.weights, Gradient(), input_ids, attention_mask, None, heads)
    assert torch.allclose(trace.logits, expected, atol=1e-5, rtol=0)


def test_unsupported_architecture_is_one_clear_error(tmp_path: Path) -> None:
    import transformers

    config = transformers.GPTNeoConfig(
        vocab_size=100, hidden_size=16, num_layers=1, num_heads=2, attention_types=[[["global"], 1]]
    )
    model = transformers.GPTNeoForSequenceClassification(config)
    model.save_pretrained(tmp_path)
    with pytest.raises(UserError, match="not supported"):
        load_checkpoint(tmp_path)


def test_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="config.json"):
        load_checkpoint(tmp_path / "nowhere")
