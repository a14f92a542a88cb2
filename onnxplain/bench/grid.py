"""The benchmark grid: every (batch, length) cell timed interleaved, then memory probes and export time."""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from onnxplain.bench.inputs import benchmark_batch
from onnxplain.bench.memory import measure
from onnxplain.bench.onnx_candidates import (
    FORWARD,
    STANDARD,
    load_explainer,
    onnx_candidates,
    standard_candidate,
    standard_session,
)
from onnxplain.bench.report import Cell, MemoryRow, cell_table, memory_table
from onnxplain.bench.timing import interleaved
from onnxplain.errors import UserError
from onnxplain.runtime.artifact import Manifest

KIB = 1024


@dataclass(frozen=True)
class BenchSettings:
    batch_sizes: list[int]
    lengths: list[int]
    methods: list[str]
    rounds: int
    budget_s: float
    eager: bool
    integrated_gradients: bool
    yardstick_max_tokens: int
    memory_batch: int | None
    time_export: bool
    device: str
    threads: int | None
    standard: bool = True


def artifact_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in Path(directory).iterdir() if path.is_file())


def time_export(manifest: Manifest, methods: list[str]) -> float:
    """Seconds to export the artifact's source model again with the artifact's methods and head mask."""
    from onnxplain.export import export_model

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onnxplain-bench-export-") as scratch:
        export_model(
            manifest.source["model_dir"], scratch, methods=methods, head_mask=np.asarray(manifest.default_head_mask)
        )
    return time.perf_counter() - started


def run_benchmark(
    artifact_dir: Path, manifest: Manifest, settings: BenchSettings, progress: Callable[[str], object]
) -> dict[str, Any]:
    import torch

    from onnxplain.bench import torch_candidates

    if settings.threads:
        torch.set_num_threads(settings.threads)
    explainer = load_explainer(artifact_dir, settings.device, settings.threads, len(settings.methods))
    yardsticks = settings.eager or settings.integrated_gradients
    checkpoint = torch_candidates.source_checkpoint(manifest) if yardsticks else None
    classifier = (
        torch_candidates.load_classifier(checkpoint.directory)
        if checkpoint is not None and settings.integrated_gradients
        else None
    )
    standard, standard_path = None, None
    if settings.standard:
        from onnxplain.bench.standard_forward import standard_forward

        model_dir = manifest.source.get("model_dir")
        if not model_dir or not Path(model_dir).is_dir():
            raise UserError(
                f"the artifact's source model directory {model_dir!r} is not here, and the standard forward is "
                "exported from it; run on the machine that exported the artifact, or pass --no-standard"
            )
        built = standard_forward(model_dir, manifest.precision, progress=progress)
        standard, standard_path = standard_session(built.path, settings.device, settings.threads), str(built.path)
        progress(f"standard forward: {built.path} ({', '.join(f'{n} {k}' for k, n in sorted(built.fused.items()))})")
    progress(
        f"{artifact_dir}: ONNX Runtime {onnxruntime.__version__} on {explainer.device.name} "
        f"({', '.join(explainer.device.providers)}), {settings.threads} threads, torch {torch.__version__}"
    )

    cells: list[Cell] = []
    for length in settings.lengths:
        for batch_size in settings.batch_sizes:
            batch = benchmark_batch(artifact_dir, batch_size, length)
            candidates = {f"onnx/{k}": v for k, v in onnx_candidates(explainer, settings.methods, batch).items()}
            if standard is not None:
                candidates[STANDARD] = standard_candidate(standard, batch)
            small = batch_size * length <= settings.yardstick_max_tokens
            if checkpoint is not None and settings.eager and small:
                eager = torch_candidates.eager_candidates(checkpoint, manifest, settings.methods, batch)
                candidates.update({f"eager/{k}": v for k, v in eager.items()})
            if classifier is not None and small:
                candidates["integrated-gradients"] = torch_candidates.integrated_gradients_candidate(
                    classifier, batch, manifest.pad_token_id
                )
            timings = interleaved(candidates, settings.rounds, settings.budget_s)
            cell = Cell(
                batch=batch_size,
                length=length,
                onnx={k.split("/", 1)[1]: v for k, v in timings.items() if k.startswith("onnx/")},
                eager={k.split("/", 1)[1]: v for k, v in timings.items() if k.startswith("eager/")},
                integrated_gradients=timings.get("integrated-gradients"),
                standard=timings.get(STANDARD),
            )
            cells.append(cell)
            progress(cell_table(cell))

    memory: list[MemoryRow] = []
    if settings.memory_batch:
        for length in settings.lengths:
            forward = measure(artifact_dir, None, settings.memory_batch, length, settings.device, settings.threads)
            for method in settings.methods:
                probe = measure(artifact_dir, method, settings.memory_batch, length, settings.device, settings.threads)
                memory.append(
                    MemoryRow(method, settings.memory_batch, length, probe.call_peak_bytes, forward.call_peak_bytes)
                )
        progress(memory_table(memory))

    export_seconds = time_export(manifest, list(manifest.methods)) if settings.time_export else None
    size = artifact_bytes(artifact_dir)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB
    progress(
        f"artifact {size / 1e6:.1f} MB"
        + (f", export {export_seconds:.0f} s" if export_seconds is not None else "")
        + f", peak memory of this process {peak / 1e6:.0f} MB"
    )
    return {
        "artifact": str(artifact_dir),
        "architecture": manifest.architecture,
        "device": explainer.device.name,
        "providers": list(explainer.device.providers),
        "available_providers": onnxruntime.get_available_providers(),
        "threads": settings.threads,
        "versions": {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__},
        "methods": settings.methods,
        "rounds": settings.rounds,
        "forward_candidate": FORWARD,
        "standard_forward": standard_path,
        "cells": [cell.to_json() for cell in cells],
        "memory": [row.to_json() for row in memory],
        "artifact_bytes": size,
        "export_seconds": export_seconds,
        "process_peak_rss_bytes": peak,
    }
