"""The docs' generated tables (the methods of docs/methods.md, the manifest fields of
docs/artifact-contract.md) are in step with the method registry and the manifest's JSON Schema."""

from __future__ import annotations

import pytest

from tests.docs_tables import marked, pages


@pytest.mark.parametrize("page", list(pages()), ids=lambda page: page.name)
def test_generated_tables_are_up_to_date(page) -> None:
    text = page.read_text(encoding="utf-8")
    for name, table in pages()[page].items():
        found = marked(name).search(text)
        assert found is not None, f"{page.name} lost its <!-- generated: {name} --> block"
        assert table in text[found.start() : found.end()], (
            f"{page.name}'s {name} table is out of step; run python -m tests.docs_tables"
        )


def test_the_methods_table_names_every_method_once() -> None:
    from onnxplain.export.registry import METHOD_NAMES
    from tests.docs_tables import methods_table

    rows = methods_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == list(METHOD_NAMES)
