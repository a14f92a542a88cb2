"""Bulk explanation of a data set into Parquet: ``onnxplain explain-dataset`` (needs the ``ray`` extra for
pyarrow, and Ray itself for ``--engine ray``).

- ``rows``: the input table (CSV/TSV/JSONL through ``onnxplain.corpus``, or Parquet), with ids and targets
- ``explain_rows``: ``RowExplainer``, the one function from input rows to output rows, used by both engines
- ``parts``: the output folder of Parquet parts, written atomically, read back to resume
- ``engines``: the local loop and the Ray Data pipeline
- ``command``: the command line
"""
