"""``build``: recipe -> verified downloads -> fine-tuned model -> calibrated heads -> explainer artifact.

Each expensive stage is cached under ``<cache>/builds/<recipe>/`` in a folder named by a hash of what
decides its contents (the recipe's settings, the code that runs it, library versions), so a second build of
the same recipe reuses every stage. The output folder then receives::

    artifact/        the explainer artifact (onnxplain explain / serve / evaluate read it)
    model/           the fine-tuned Hugging Face model directory
    heldout.csv      the held-out split (label,text), for `onnxplain evaluate ARTIFACT --data heldout.csv`
    calibration.txt  the head-calibration corpus, one sentence a line
    MODEL_CARD.md    accuracy, split sizes, heads kept, methods, checksums, time taken
    build.json       the same facts as data
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from onnxplain.errors import UserError
from onnxplain.export.registry import METHOD_NAMES
from onnxplain.recipes.card import write_model_card
from onnxplain.recipes.data import (
    SentenceSplit,
    fetch_sentence_file,
    read_sentences,
    split_sentences,
    write_corpus,
    write_labelled_csv,
)
from onnxplain.recipes.fetch import cache_dir, fetch_base_weights, sha256_of
from onnxplain.recipes.recipe import Recipe, RecipeError
from onnxplain.recipes.stages import cached_stage, code_fingerprint, copy_tree, directory_size, stage_key
from onnxplain.runtime.artifact import MODEL_FILE

Log = Callable[[str], None]
BUILD_FILE = "build.json"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    summary: dict[str, Any]

    @property
    def artifact_dir(self) -> Path:
        return self.out_dir / "artifact"


def require_export_support(recipe: Recipe) -> None:
    """Stop with a clear message when the exporter does not know the recipe's architecture."""
    from onnxplain.export.architectures import supported_model_types

    supported = supported_model_types()
    if recipe.base.architecture not in supported:
        raise UserError(
            f"recipe {recipe.name} needs {recipe.base.architecture} support in the exporter, which this "
            f"onnxplain lacks (it exports {', '.join(supported)}); its downloads are verified and cached, so "
            "build it again once an onnxplain with that architecture is installed"
        )


def require_calibration_mode(recipe: Recipe) -> None:
    from onnxplain.calibration import MODES

    if recipe.calibration.mode not in MODES:
        raise RecipeError(
            f"recipe {recipe.path}: [calibration] mode = {recipe.calibration.mode!r} is unknown; "
            f"use one of {', '.join(MODES)}"
        )


def _check_architecture(recipe: Recipe, base_dir: Path) -> None:
    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != recipe.base.architecture:
        raise RecipeError(
            f"recipe {recipe.path}: [base] architecture = {recipe.base.architecture!r} but the weights are a "
            f"{config.get('model_type')!r} model; correct the architecture"
        )


def _versions() -> dict[str, str]:
    import onnx
    import torch
    import transformers

    from onnxplain import __version__

    return {
        "onnxplain": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
    }


def _finetune_stage(
    recipe: Recipe, base_dir: Path, split: SentenceSplit, folder: Path, progress: bool
) -> tuple[Path, dict[str, Any], bool]:
    from onnxplain.recipes.finetune import fine_tune

    def produce(staging: Path) -> dict[str, Any]:
        result = fine_tune(base_dir, split, recipe.finetune, recipe.labels, staging / "model", progress=progress)
        return asdict(result)

    return cached_stage(folder, produce)


def _calibration_stage(
    recipe: Recipe, model_dir: Path, split: SentenceSplit, folder: Path, progress: bool
) -> tuple[Path, dict[str, Any], bool]:
    from onnxplain.calibration import calibrate_for_export

    def produce(staging: Path) -> dict[str, Any]:
        started = time.perf_counter()
        corpus = write_corpus(staging / "calibration.txt", split.train)
        mask, provenance = calibrate_for_export(
            model_dir,
            corpus,
            mode=recipe.calibration.mode,
            thresholds=recipe.calibration.thresholds,
            seed=recipe.calibration.seed,
            limit=recipe.calibration.limit,
            progress=progress,
        )
        provenance["corpus"]["path"] = str(folder / corpus.name)  # where the file lies once the stage is done
        return {"mask": mask.tolist(), "provenance": provenance, "seconds": time.perf_counter() - started}

    return cached_stage(folder, produce)


def _export_stage(
    recipe: Recipe, model_dir: Path, heads: dict[str, Any], folder: Path
) -> tuple[Path, dict[str, Any], bool]:
    import numpy as np

    from onnxplain.export import export_model

    def produce(staging: Path) -> dict[str, Any]:
        started = time.perf_counter()
        export_model(
            model_dir,
            staging / "artifact",
            methods=list(recipe.export.methods) if recipe.export.methods else None,
            head_mask=np.asarray(heads["mask"], dtype=np.float32),
            head_mask_source=heads["provenance"],
            max_length=recipe.export.max_length,
        )
        return {"seconds": time.perf_counter() - started}

    return cached_stage(folder, produce)


def _load_split(recipe: Recipe, cache: Path, pip_options: Sequence[str]) -> tuple[Path, SentenceSplit]:
    data_file = fetch_sentence_file(recipe.data, cache, pip_options)
    return data_file, split_sentences(read_sentences(data_file, recipe.data.labels, recipe.labels), recipe.split)


def build(
    recipe: Recipe,
    out_dir: Path,
    *,
    cache: Path | None = None,
    pip_options: Sequence[str] = (),
    progress: bool = True,
    log: Log = _stderr,
) -> BuildResult:
    """Build (or reuse) every stage of ``recipe`` and write the output folder described above."""
    started = time.perf_counter()
    cache = cache or cache_dir()
    out_dir = Path(out_dir)
    require_calibration_mode(recipe)

    log(f"[1/5] fetching and verifying {recipe.name}'s packages into {cache}")
    base_dir = fetch_base_weights(recipe.base, cache, pip_options)
    _check_architecture(recipe, base_dir)
    data_file, split = _load_split(recipe, cache, pip_options)
    require_export_support(recipe)

    versions = _versions()
    stages = cache / "builds" / recipe.name
    finetune_key = stage_key(
        recipe.fingerprint("labels", "base", "data", "split", "finetune"),
        code_fingerprint(["onnxplain.recipes.finetune", "onnxplain.recipes.data"]),
        versions["torch"],
        versions["transformers"],
    )
    training = min(recipe.finetune.limit_train or len(split.train), len(split.train))
    log(f"[2/5] fine-tuning on {training} sentences ({recipe.finetune.epochs} epoch(s))")
    finetune_dir, finetune, reused = _finetune_stage(
        recipe, base_dir, split, stages / f"finetune-{finetune_key}", progress
    )
    model_dir = finetune_dir / "model"
    log(f"      held-out accuracy {finetune['heldout_accuracy']:.1%}" + (" (cached)" if reused else ""))

    heads_key = stage_key(finetune_key, recipe.fingerprint("calibration"), code_fingerprint(["onnxplain.calibration"]))
    log(f"[3/5] identifying heads on the calibration corpus (mode {recipe.calibration.mode})")
    heads_dir, heads, reused = _calibration_stage(recipe, model_dir, split, stages / f"heads-{heads_key}", progress)
    kept = heads["provenance"].get("kept_heads", [])
    log(f"      {len(kept)} head(s) kept" + (" (cached)" if reused else ""))

    export_key = stage_key(
        heads_key,
        recipe.fingerprint("export"),
        code_fingerprint(["onnxplain.export", "onnxplain.runtime.artifact"]),
        versions["onnx"],
    )
    log(f"[4/5] exporting the explainer artifact ({', '.join(recipe.export.methods or METHOD_NAMES)})")
    export_dir, export, reused = _export_stage(recipe, model_dir, heads, stages / f"export-{export_key}")
    if reused:
        log("      (cached)")

    log(f"[5/5] writing {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = out_dir / BUILD_FILE
    up_to_date = (
        previous.is_file()
        and json.loads(previous.read_text(encoding="utf-8")).get("key") == export_key
        and (out_dir / "artifact" / MODEL_FILE).is_file()
        and (out_dir / "model").is_dir()
    )
    if not up_to_date:
        copy_tree(export_dir / "artifact", out_dir / "artifact")
        copy_tree(model_dir, out_dir / "model")
    shutil.copyfile(heads_dir / "calibration.txt", out_dir / "calibration.txt")
    write_labelled_csv(out_dir / "heldout.csv", split.heldout, recipe.labels)

    summary = {
        "recipe": recipe.name,
        "description": recipe.description,
        "key": export_key,
        "labels": list(recipe.labels),
        "settings": recipe.settings(),
        "split": {"train": len(split.train), "heldout": len(split.heldout), "seed": recipe.split.seed},
        "finetune": finetune,
        "heads": {
            "mode": recipe.calibration.mode,
            "kept": kept,
            "total": int(sum(len(row) for row in heads["mask"])),
            "corpus_sentences": heads["provenance"].get("corpus", {}).get("sentences"),
        },
        "methods": list(recipe.export.methods or METHOD_NAMES),
        "checksums": {
            **{f"{p.requirement} (download)": p.sha256 for p in recipe.base.packages},
            f"base weights {recipe.base.weights_file}": sha256_of(base_dir / recipe.base.weights_file),
            f"{recipe.data.package.requirement} (download)": recipe.data.package.sha256,
            f"data {Path(recipe.data.path).name}": sha256_of(data_file),
            f"artifact {MODEL_FILE}": sha256_of(out_dir / "artifact" / MODEL_FILE),
        },
        "artifact_bytes": directory_size(out_dir / "artifact"),
        "seconds": {
            "finetune": finetune["seconds"],
            "calibration": heads["seconds"],
            "export": export["seconds"],
            "this_run": time.perf_counter() - started,
        },
        "versions": versions,
    }
    (out_dir / BUILD_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_model_card(out_dir / "MODEL_CARD.md", summary)
    return BuildResult(out_dir=out_dir, summary=summary)
