"""Fine-tuning on a tiny random BERT: same seed -> identical weights, another seed -> other weights.
(That the loop learns is checked on real data by the slow build test.)"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from onnxplain.recipes.data import LabelledSentence, SentenceSplit
from onnxplain.recipes.finetune import bucketed_order, fine_tune
from onnxplain.recipes.recipe import FineTuning
from tests.tiny_models import build_tiny_classifier

LABELS = ("negative", "positive")
SETTINGS = FineTuning(
    seed=7, epochs=2, batch_size=16, learning_rate=3e-3, warmup_ratio=0.1, weight_decay=0.01, max_length=32
)


def word_sentences(count: int, seed: int) -> list[LabelledSentence]:
    """Sentences whose label is decided by one word, amid random filler words."""
    rng = random.Random(seed)
    filler = "the film story cast plot music scene actor ending script".split()
    sentences = []
    for i in range(count):
        label = i % 2
        words = rng.sample(filler, 4) + ["great" if label else "awful"]
        rng.shuffle(words)
        sentences.append(LabelledSentence(" ".join(words), label))
    return sentences


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-base"), "bert", seed=1, num_labels=2)


@pytest.fixture(scope="module")
def split() -> SentenceSplit:
    return SentenceSplit(train=word_sentences(96, seed=0), heldout=word_sentences(40, seed=1))


def weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(model_dir / "model.safetensors")


def test_same_seed_gives_identical_weights(base_dir: Path, split: SentenceSplit, tmp_path: Path) -> None:
    first = fine_tune(base_dir, split, SETTINGS, LABELS, tmp_path / "a", progress=False)
    second = fine_tune(base_dir, split, SETTINGS, LABELS, tmp_path / "b", progress=False)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(bool((a[k] == b[k]).all()) for k in a)
    assert first.heldout_accuracy == second.heldout_accuracy
    assert first.steps == second.steps == 2 * 96 // 16
    assert (tmp_path / "a" / "tokenizer.json").is_file()


def test_other_seed_gives_other_weights(base_dir: Path, split: SentenceSplit, tmp_path: Path) -> None:
    import dataclasses

    short = dataclasses.replace(SETTINGS, epochs=1, limit_train=32)
    fine_tune(base_dir, split, short, LABELS, tmp_path / "a", progress=False)
    result = fine_tune(base_dir, split, dataclasses.replace(short, seed=8), LABELS, tmp_path / "b", progress=False)
    assert result.train_sentences == 32
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert any(not bool((a[k] == b[k]).all()) for k in a)


def test_saved_model_has_the_recipe_labels(base_dir: Path, split: SentenceSplit, tmp_path: Path) -> None:
    import dataclasses
    import json

    fine_tune(base_dir, split, dataclasses.replace(SETTINGS, epochs=1), LABELS, tmp_path / "m", progress=False)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}


def test_bucketed_order_is_a_permutation_of_similar_length_batches() -> None:
    import torch

    lengths = [random.Random(0).randint(3, 60) for _ in range(300)]
    order = bucketed_order(lengths, 16, torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(300))
    assert order == bucketed_order(lengths, 16, torch.Generator().manual_seed(0))
    batches = [order[i : i + 16] for i in range(0, 300, 16)]
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    shuffled = torch.randperm(300, generator=torch.Generator().manual_seed(0)).tolist()
    padded_plain = sum(max(lengths[i] for i in shuffled[s : s + 16]) * 16 for s in range(0, 300, 16))
    assert padded < padded_plain
