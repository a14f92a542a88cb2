"""``RowExplainer``: input rows (see ``rows``) to output rows, the one step both engines run.

One output row per input row: ``id``, ``position``, ``text``, ``label`` (predicted), ``target`` (explained),
``probabilities`` (in label-index order; the label names are in the schema metadata), ``tokens`` with their
character spans, ``words`` with theirs, ``truncated``, and for every method ``<method>.token_relevance`` and
``<method>.word_relevance`` (float32 lists as long as ``tokens`` and ``words``).

Rows are explained in **chunks** of ``chunk_rows`` consecutive input positions (position // chunk_rows), each
chunk one set of ONNX Runtime calls, whoever runs it and however the rows reach it: so results do not depend on
the engine, the number of actors or how Ray groups rows into batches (a padded batch's float rounding depends
on which texts share it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from onnxplain.runtime.explainer import Explainer
from onnxplain.runtime.results import Explanation

SPAN = pa.list_(pa.int32(), 2)


def output_schema(methods: Sequence[str], labels: dict[int, str]) -> pa.Schema:
    fields = [
        ("id", pa.string()),
        ("position", pa.int64()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("target", pa.string()),
        ("probabilities", pa.list_(pa.float64())),
        ("tokens", pa.list_(pa.string())),
        ("token_spans", pa.list_(SPAN)),
        ("words", pa.list_(pa.string())),
        ("word_spans", pa.list_(SPAN)),
        ("truncated", pa.bool_()),
    ]
    for method in methods:
        fields += [
            (f"{method}.token_relevance", pa.list_(pa.float32())),
            (f"{method}.word_relevance", pa.list_(pa.float32())),
        ]
    metadata = {
        "onnxplain.labels": json.dumps([labels[i] for i in sorted(labels)]),
        "onnxplain.methods": json.dumps(list(methods)),
    }
    return pa.schema(fields, metadata=metadata)


class RowExplainer:
    """Loads the artifact once (one ONNX Runtime session set) and explains batches of input rows."""

    def __init__(self, artifact: str, methods: Sequence[str], chunk_rows: int, load_options: dict[str, Any]) -> None:
        self.explainer = Explainer.load(artifact, batch_size=chunk_rows, **load_options)
        for method in methods:
            self.explainer.check_method(method)
        self.methods = list(methods)
        self.chunk_rows = chunk_rows
        self.schema = output_schema(self.methods, self.explainer.labels)

    def __call__(self, rows: pa.Table) -> pa.Table:
        positions = rows.column("position").to_numpy()
        order = np.argsort(positions, kind="stable")
        chunks = positions[order] // self.chunk_rows
        pieces = []
        for chunk in np.unique(chunks):
            pieces.append(self.explain_chunk(rows.take(order[chunks == chunk])))
        if not pieces:
            return self.schema.empty_table()
        return pa.concat_tables(pieces)

    def explain_chunk(self, rows: pa.Table) -> pa.Table:
        texts = rows.column("text").to_pylist()
        targets = rows.column("target").to_numpy().astype(np.int64)
        encodings = self.explainer.tokenize(texts)
        by_method = {m: self.explainer.explain_encodings(encodings, m, targets) for m in self.methods}
        first: list[Explanation] = by_method[self.methods[0]]
        labels = [self.explainer.labels[i] for i in sorted(self.explainer.labels)]
        columns: dict[str, Any] = {
            "id": rows.column("id"),
            "position": rows.column("position"),
            "text": rows.column("text"),
            "label": [e.label for e in first],
            "target": [e.target for e in first],
            "probabilities": [[e.probabilities[name] for name in labels] for e in first],
            "tokens": [[t.text for t in e.tokens] for e in first],
            "token_spans": [[[t.start, t.end] for t in e.tokens] for e in first],
            "words": [[w.text for w in e.words] for e in first],
            "word_spans": [[[w.start, w.end] for w in e.words] for e in first],
            "truncated": [e.truncated for e in first],
        }
        for method, results in by_method.items():
            columns[f"{method}.token_relevance"] = [[t.relevance for t in e.tokens] for e in results]
            columns[f"{method}.word_relevance"] = [[w.relevance for w in e.words] for e in results]
        return pa.table(columns, schema=self.schema)
