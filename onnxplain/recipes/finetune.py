"""Fine-tune a pre-trained encoder as a sentence classifier, reproducibly, with a plain PyTorch loop.

Same recipe, same machine -> same weights: every random choice (classifier initialisation, dropout, batch
order) comes from the recipe's seed, and PyTorch runs with deterministic algorithms while training.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnxplain.recipes.data import LabelledSentence, SentenceSplit
from onnxplain.recipes.recipe import FineTuning

if TYPE_CHECKING:
    import torch

EVAL_BATCH_SIZE = 64
MAX_GRAD_NORM = 1.0
BUCKET_BATCHES = 8  # batches whose sentences are sorted by length together
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


@dataclass(frozen=True)
class FineTuneResult:
    heldout_accuracy: float
    train_sentences: int
    heldout_sentences: int
    steps: int
    final_loss: float  # mean training loss over the last epoch
    seconds: float


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed PyTorch and switch on deterministic algorithms, restoring the previous setting afterwards."""
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def _batches(
    tokenizer: Any, sentences: Sequence[LabelledSentence], order: Sequence[int], size: int, max_length: int
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """Batches of tokenised sentences in ``order``, padded to the longest sentence of each batch."""
    import torch

    for start in range(0, len(order), size):
        chosen = [sentences[i] for i in order[start : start + size]]
        encoded = tokenizer(
            [s.text for s in chosen],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        yield dict(encoded), torch.tensor([s.label for s in chosen])


def bucketed_order(lengths: Sequence[int], size: int, generator: torch.Generator) -> list[int]:
    """A shuffled order in which each run of ``size`` items has similar lengths, so batches carry little
    padding: shuffle, sort within windows of ``BUCKET_BATCHES`` batches, then shuffle the batches."""
    import torch

    order = torch.randperm(len(lengths), generator=generator).tolist()
    window = size * BUCKET_BATCHES
    order = [i for w in range(0, len(order), window) for i in sorted(order[w : w + window], key=lengths.__getitem__)]
    batches = [order[b : b + size] for b in range(0, len(order), size)]
    return [i for b in torch.randperm(len(batches), generator=generator).tolist() for i in batches[b]]


def held_out_accuracy(model: Any, tokenizer: Any, sentences: Sequence[LabelledSentence], max_length: int) -> float:
    """The fraction of sentences whose predicted class is their label."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for inputs, labels in _batches(tokenizer, sentences, range(len(sentences)), EVAL_BATCH_SIZE, max_length):
            correct += int((model(**inputs).logits.argmax(-1) == labels).sum())
    return correct / max(len(sentences), 1)


def _optimizer(model: Any, settings: FineTuning) -> torch.optim.Optimizer:
    import torch

    decay = [p for n, p in model.named_parameters() if not n.endswith(NO_DECAY)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith(NO_DECAY)]
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings.learning_rate)


def fine_tune(
    base_dir: Path,
    split: SentenceSplit,
    settings: FineTuning,
    labels: Sequence[str],
    out_dir: Path,
    *,
    progress: bool = True,
) -> FineTuneResult:
    """Train a classification head (and the whole encoder) on ``split.train``, report accuracy on
    ``split.heldout``, and save a Hugging Face model directory with its tokenizer to ``out_dir``."""
    import torch
    import transformers
    from tqdm.auto import tqdm

    started = time.perf_counter()
    train = split.train[: settings.limit_train] if settings.limit_train else split.train
    with deterministic(settings.seed):
        tokenizer = transformers.AutoTokenizer.from_pretrained(base_dir)
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # the new head's "newly initialized" notice is expected
        try:
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                base_dir,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={name: i for i, name in enumerate(labels)},
                attn_implementation="eager",
            )
        finally:
            transformers.logging.set_verbosity(verbosity)
        model.config.problem_type = "single_label_classification"
        optimizer = _optimizer(model, settings)
        steps_per_epoch = -(-len(train) // settings.batch_size)
        total_steps = steps_per_epoch * settings.epochs
        schedule = transformers.get_linear_schedule_with_warmup(
            optimizer, int(settings.warmup_ratio * total_steps), total_steps
        )
        shuffle = torch.Generator().manual_seed(settings.seed)
        lengths = [
            len(ids)
            for ids in tokenizer([s.text for s in train], truncation=True, max_length=settings.max_length)["input_ids"]
        ]
        bar = tqdm(total=total_steps, desc="fine-tuning", unit="step", disable=not progress)
        epoch_loss = 0.0
        for epoch in range(settings.epochs):
            model.train()
            order = bucketed_order(lengths, settings.batch_size, shuffle)
            epoch_loss = 0.0
            for inputs, targets in _batches(tokenizer, train, order, settings.batch_size, settings.max_length):
                loss = model(**inputs, labels=targets).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                epoch_loss += loss.item() * len(targets)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
                bar.update()
            epoch_loss /= len(train)
        bar.close()
        accuracy = held_out_accuracy(model, tokenizer, split.heldout, settings.max_length)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return FineTuneResult(
        heldout_accuracy=accuracy,
        train_sentences=len(train),
        heldout_sentences=len(split.heldout),
        steps=total_steps,
        final_loss=epoch_loss,
        seconds=time.perf_counter() - started,
    )
