"""The output folder of ``explain-dataset``: Parquet parts, each written whole or not at all.

A part is written to a temporary name in the folder and renamed into place, so a run that is stopped (killed,
out of time) leaves only complete parts. A rerun reads the ids already written and explains only the rest; a
part file is ``part-<first position>.parquet``, so reading the folder in name order gives input order.
Read the result with ``pyarrow.parquet.read_table(folder)``, ``pandas.read_parquet(folder)`` or
``ray.data.read_parquet(folder)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from onnxplain.errors import UserError

PART_GLOB = "part-*.parquet"


def written_ids(folder: Path, schema: pa.Schema) -> set[str]:
    """The ids in the folder's parts; a folder written with other columns (methods, labels) is refused."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder} is a file; pass a folder (it is created if missing)")
    ids: set[str] = set()
    for path in sorted(folder.glob(PART_GLOB)):
        found = pq.read_schema(path)
        if found.names != schema.names or found.metadata != schema.metadata:
            raise UserError(
                f"{path} was written with other methods or by another artifact; pass another --out folder, "
                "or delete it to start again"
            )
        ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return ids


def write_part(folder: Path, table: pa.Table) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    first = min(table.column("position").to_pylist())
    path = folder / f"part-{first:010d}.parquet"
    temporary = folder / f".{path.name}.{os.getpid()}.tmp"
    pq.write_table(table, temporary)
    os.replace(temporary, path)
    return path


class PartWriter:
    """Collects output rows and writes a part every ``part_rows`` rows; rows whose id is already written (a
    retried batch, or an earlier run) are dropped, so every id lands exactly once."""

    def __init__(self, folder: Path, written: set[str], part_rows: int) -> None:
        self.folder = folder
        self.written = written
        self.part_rows = part_rows
        self._pending: list[pa.Table] = []
        self._pending_ids: set[str] = set()
        self.duplicates = 0

    def add(self, table: pa.Table) -> int:
        """Keep the new rows of ``table``; returns how many were new."""
        ids = table.column("id").to_pylist()
        mask = [i not in self.written and i not in self._pending_ids for i in ids]
        new = table.filter(pa.array(mask, pa.bool_()))
        self.duplicates += len(ids) - new.num_rows
        if new.num_rows:
            self._pending.append(new)
            self._pending_ids.update(new.column("id").to_pylist())
        if len(self._pending_ids) >= self.part_rows:
            self.flush()
        return new.num_rows

    def flush(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        table = table.take(pc.sort_indices(table, [("position", "ascending")]))
        write_part(self.folder, table)
        self.written.update(self._pending_ids)
        self._pending, self._pending_ids = [], set()
