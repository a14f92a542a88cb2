"""The model card of a built recipe: a short Markdown page written from the build summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:.1f} s"


def _heads(kept: list[list[int]]) -> str:
    return ", ".join(f"L{layer}.H{head}" for layer, head in kept) or "none"


def model_card(summary: dict[str, Any]) -> str:
    """Markdown for a build summary as ``build.build`` writes it to ``build.json``."""
    settings = summary["settings"]
    finetune, split, heads = summary["finetune"], summary["split"], summary["heads"]
    tuning = settings["finetune"]
    seconds = summary["seconds"]
    built = seconds["finetune"] + seconds["calibration"] + seconds["export"]
    correct = round(finetune["heldout_accuracy"] * split["heldout"])
    accuracy = f"{finetune['heldout_accuracy']:.1%} ({correct} of {split['heldout']} sentences)"
    labels = ", ".join(f"{i} = {name}" for i, name in enumerate(summary["labels"]))
    sizes = f"{split['train']} training / {split['heldout']} held-out sentences, seed {split['seed']}"
    training = (
        f"{finetune['train_sentences']} sentences, {tuning['epochs']} epoch(s), "
        f"batch {tuning['batch_size']}, learning rate {tuning['learning_rate']:g}, "
        f"warm-up {tuning['warmup_ratio']:g}, weight decay {tuning['weight_decay']:g}, "
        f"max length {tuning['max_length']}, seed {tuning['seed']}"
    )
    data = settings["data"]
    lines = [
        f"# {summary['recipe']}",
        "",
        summary["description"],
        "",
        "| | |",
        "| --- | --- |",
        f"| held-out accuracy | {accuracy} |",
        f"| labels | {labels} |",
        f"| split | {sizes} |",
        f"| fine-tuning | {training} |",
        f"| heads kept | {len(heads['kept'])} of {heads['total']} (mode {heads['mode']}, "
        f"{heads['corpus_sentences']} calibration sentences): {_heads(heads['kept'])} |",
        f"| methods | {', '.join(summary['methods'])} |",
        f"| artifact size | {summary['artifact_bytes'] / 1e6:.1f} MB |",
        f"| build time | {_duration(built)} (fine-tuning {_duration(seconds['finetune'])}, head calibration "
        f"{_duration(seconds['calibration'])}, export {_duration(seconds['export'])}) |",
        "",
        "## Checksums (sha256)",
        "",
        "| file | sha256 |",
        "| --- | --- |",
        *(f"| {name} | `{digest}` |" for name, digest in summary["checksums"].items()),
        "",
        "## Versions",
        "",
        ", ".join(f"{name} {version}" for name, version in summary["versions"].items()),
        "",
        "## Data",
        "",
        f"`{data['path']}` from the `{data['package']['name']}` package. "
        f"{data['note']} The held-out split is in `heldout.csv`; the head-calibration corpus in "
        "`calibration.txt`.",
        "",
    ]
    return "\n".join(lines)


def headline(summary: dict[str, Any]) -> str:
    """One line: the recipe, its held-out accuracy and the heads kept."""
    heads = summary["heads"]
    return (
        f"{summary['recipe']}: held-out accuracy {summary['finetune']['heldout_accuracy']:.1%} on "
        f"{summary['split']['heldout']} sentences, {len(heads['kept'])} of {heads['total']} heads kept"
    )


def write_model_card(path: Path, summary: dict[str, Any]) -> Path:
    Path(path).write_text(model_card(summary), encoding="utf-8")
    return Path(path)
