"""``onnxplain explain-dataset ARTIFACT --data IN --out OUT [--engine local|ray]``: explain every row of a data
set with one or more methods into a folder of Parquet parts (see ``explain_rows`` for the columns).

The output is resumable: a rerun with the same ``--out`` skips the rows already written. ``--engine ray`` runs
the rows through Ray Data with ``--actors`` actors (one ONNX Runtime session each); ``--engine local`` runs the
same chunks in this process; both write the same results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK_ROWS = 16  # rows per ONNX Runtime call (per method)
PART_ROWS = 1024  # rows per Parquet part: the unit of progress a stopped run keeps


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifact", type=Path, help="artifact directory written by `onnxplain export`")
    parser.add_argument("--data", type=Path, required=True, help="input rows: .csv, .tsv, .jsonl or .parquet")
    parser.add_argument("--out", type=Path, required=True, help="output folder of Parquet parts (created, resumed)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="local (default) or ray (Ray Data)")
    parser.add_argument(
        "--methods", help="comma-separated methods (default: the artifact's default method), e.g. mask-lrp,attnlrp"
    )
    parser.add_argument("--actors", type=int, default=1, help="Ray Data actors, one ONNX Runtime session each")
    parser.add_argument("--limit", type=int, help="explain only the first N rows (non-empty texts)")
    parser.add_argument("--text-column", default="text", help="text column or JSON key (default: text)")
    parser.add_argument("--id-column", help="column of unique row ids (default: the 0-based row number)")
    parser.add_argument("--target-column", help="column of the label to explain per row (default: the predicted)")
    parser.add_argument("--batch-size", type=int, default=CHUNK_ROWS, help=f"rows per ONNX Runtime call ({CHUNK_ROWS})")
    parser.add_argument("--part-rows", type=int, default=PART_ROWS, help=f"rows per Parquet part ({PART_ROWS})")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="where to run (default: cpu)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads per session (default: cores / actors)")
    parser.add_argument("--max-length", type=int, help="cut texts after this many tokens (default: the model's)")
    parser.add_argument(
        "--memory-budget", help="memory one ONNX Runtime session set may use, e.g. 2GiB (where the runtime has budgets)"
    )
    parser.add_argument("--ray-address", help="--engine ray: join this Ray cluster (default: start a local one)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


@dataclass
class Summary:
    rows: int = 0  # rows read from the input (non-empty texts, within --limit)
    already: int = 0  # of them, already in the output folder
    written: int = 0  # written by this run
    skipped_empty: int = 0  # rows without text
    duplicates_dropped: int = 0  # rows a retried batch delivered twice
    seconds: float = 0.0
    out: Path = field(default_factory=Path)


def explain_dataset(
    artifact: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    engine: str = "local",
    methods: Sequence[str] | None = None,
    actors: int = 1,
    limit: int | None = None,
    columns: Any = None,
    chunk_rows: int = CHUNK_ROWS,
    part_rows: int = PART_ROWS,
    load_options: dict[str, Any] | None = None,
    progress: bool = True,
    on_rows: Callable[[int], None] | None = None,
) -> Summary:
    """Explain the rows of ``data`` not yet in ``out``. With ``engine="ray"``, Ray must be initialised (or is
    started locally). ``on_rows(total_written_so_far)`` is called as rows are written."""
    from tqdm import tqdm

    from onnxplain.bulk.engines import connect_ray, explain_local, explain_on_ray
    from onnxplain.bulk.explain_rows import RowExplainer, output_schema
    from onnxplain.bulk.parts import PartWriter, written_ids
    from onnxplain.bulk.rows import InputColumns, read_input
    from onnxplain.errors import UserError
    from onnxplain.runtime.artifact import read_manifest
    from onnxplain.runtime.tasks import QUESTION_ANSWERING

    started = time.monotonic()
    artifact, out = str(Path(artifact).resolve()), Path(out)
    manifest = read_manifest(artifact)
    if manifest.task == QUESTION_ANSWERING:
        raise UserError(
            "explain-dataset explains texts, and this artifact answers questions; "
            "use onnxplain explain ARTIFACT --file pairs.jsonl"
        )
    methods = list(methods or [manifest.default_method])
    for method in methods:
        if method not in manifest.methods:
            raise UserError(f"unknown method {method!r}; this artifact offers {', '.join(manifest.methods)}")
    for name, value in (("actors", actors), ("batch size", chunk_rows), ("part rows", part_rows)):
        if value < 1:
            raise UserError(f"{name} {value} is not positive; use 1 or more")
    if limit is not None and limit < 0:
        raise UserError(f"--limit {limit} is negative; pass 0 or more")
    rows, skipped = read_input(data, columns or InputColumns(), manifest, limit)
    written = written_ids(out, output_schema(methods, manifest.labels))
    todo = rows.filter([i not in written for i in rows.column("id").to_pylist()])
    summary = Summary(rows=rows.num_rows, already=rows.num_rows - todo.num_rows, skipped_empty=skipped, out=out)
    writer = PartWriter(out, written, part_rows)
    bar = tqdm(total=todo.num_rows, unit="row", disable=not progress, file=sys.stderr, desc="explain-dataset")

    def advance(count: int) -> None:
        summary.written += count
        bar.update(count)
        if on_rows is not None:
            on_rows(summary.written)

    options = dict(load_options or {})
    try:
        if todo.num_rows == 0:
            pass
        elif engine == "local":
            explain_local(todo, RowExplainer(artifact, methods, chunk_rows, options), writer, advance)
        elif engine == "ray":
            connect_ray(None, actors)
            explain_on_ray(todo, (artifact, methods, chunk_rows, options), actors, writer, advance)
        else:
            raise UserError(f"unknown engine {engine!r}; use local or ray")
    finally:
        bar.close()
    summary.duplicates_dropped = writer.duplicates
    summary.seconds = time.monotonic() - started
    return summary


def run(args: argparse.Namespace) -> int:
    from onnxplain.bulk.rows import InputColumns

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    threads = args.threads or (max(1, (os.cpu_count() or 1) // args.actors) if args.engine == "ray" else None)
    load_options = {"device": args.device, "max_length": args.max_length, "intra_op_threads": threads}
    if args.memory_budget is not None:  # every actor (or the local session set) gets the whole budget
        import inspect

        from onnxplain.errors import UserError
        from onnxplain.runtime import Explainer

        if "memory_budget" not in inspect.signature(Explainer.load).parameters:
            raise UserError("this onnxplain runtime has no memory budget; drop --memory-budget")
        load_options["memory_budget"] = args.memory_budget
    if args.engine == "ray" and args.ray_address:
        from onnxplain.bulk.engines import connect_ray

        connect_ray(args.ray_address, args.actors)
    summary = explain_dataset(
        args.artifact,
        args.data,
        args.out,
        engine=args.engine,
        methods=methods,
        actors=args.actors,
        limit=args.limit,
        columns=InputColumns(args.text_column, args.id_column, args.target_column),
        chunk_rows=args.batch_size,
        part_rows=args.part_rows,
        load_options=load_options,
        progress=not args.no_progress,
    )
    notes = [f"{summary.already} already there"] if summary.already else []
    if summary.skipped_empty:
        notes.append(f"{summary.skipped_empty} rows without text skipped")
    extra = f" ({'; '.join(notes)})" if notes else ""
    rate = summary.written / summary.seconds if summary.seconds else 0.0
    print(
        f"onnxplain explain-dataset: wrote {summary.written} rows to {summary.out} in {summary.seconds:.1f} s "
        f"({rate:.1f} rows/s){extra}",
        file=sys.stderr,
    )
    return 0
