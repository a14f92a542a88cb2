"""The docs' tables that are generated from the code: the methods table of docs/methods.md (from the method
registry) and the manifest field tables of docs/artifact-contract.md (from the manifest's JSON Schema).

    python -m tests.docs_tables     # rewrite them after changing the registry or the schema

``tests/test_docs_tables.py`` fails while a page is out of step.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
METHODS_PAGE = ROOT / "docs" / "methods.md"
CONTRACT_PAGE = ROOT / "docs" / "artifact-contract.md"


def cell(text: str) -> str:
    """Text for a Markdown table cell: no line breaks, and | < > escaped (``<s>`` is a token, not HTML)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def methods_table() -> str:
    from onnxplain.export.registry import REGISTRY

    rows = ["| method | rule set | reads the head mask | what it is |", "| --- | --- | --- | --- |"]
    for method in REGISTRY:
        mask = "yes" if method.reads_head_mask else "no"
        rows.append(f"| `{method.name}` | {method.rule_set} | {mask} | {cell(method.description)} |")
    return "\n".join(rows)


def type_of(schema: dict[str, Any]) -> str:
    """A property's type in a few words: its JSON type, const or enum."""
    if "const" in schema:
        return f"`{schema['const']!r}`".replace("'", '"') if not isinstance(schema["const"], dict) else "object"
    if "enum" in schema:
        values = schema["enum"]
        if all(isinstance(v, list) for v in values):
            return "one of the lists " + "; ".join("`" + ", ".join(v) + "`" for v in values)
        return "one of " + ", ".join(f"`{v}`" for v in values)
    if "$ref" in schema:
        return f"a {schema['$ref'].rsplit('/', 1)[-1]} record"
    kind = schema.get("type", "any")
    if kind == "object" and "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        return f"object of {type_of(schema['additionalProperties'])}"
    if kind == "array" and "prefixItems" in schema:
        return "[" + ", ".join(type_of(item) for item in schema["prefixItems"]) + "]"
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {type_of(schema['items'])}"
    return str(kind)


def fields_table(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", ()))
    rows = ["| field | type | required | meaning |", "| --- | --- | --- | --- |"]
    for name, field in schema["properties"].items():
        rows.append(
            f"| `{name}` | {cell(type_of(field))} | {'yes' if name in required else 'no'} | "
            f"{cell(field.get('description', ''))} |"
        )
    return "\n".join(rows)


def contract_tables() -> dict[str, str]:
    from onnxplain.runtime.artifact import manifest_schema

    schema = manifest_schema()
    return {
        "manifest-fields": fields_table(schema),
        "head-mask-fields": fields_table(schema["properties"]["head_mask"]),
        "method-fields": fields_table(schema["$defs"]["method"]),
        "file-fields": fields_table(schema["$defs"]["file"]),
    }


def marked(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated: {name} -->\n)(?:.*?\n)??(<!-- end generated -->)", re.S)


def with_tables(text: str, tables: dict[str, str]) -> str:
    """``text`` with each marked block replaced by its table; a missing marker is an error."""
    for name, table in tables.items():
        pattern = marked(name)
        if not pattern.search(text):
            raise ValueError(f"no <!-- generated: {name} --> block")
        text = pattern.sub(lambda match, table=table: match.group(1) + table + "\n" + match.group(2), text)
    return text


def pages() -> dict[Path, dict[str, str]]:
    return {METHODS_PAGE: {"methods": methods_table()}, CONTRACT_PAGE: contract_tables()}


def main() -> int:
    for page, tables in pages().items():
        page.write_text(with_tables(page.read_text(encoding="utf-8"), tables), encoding="utf-8")
        print(f"wrote {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
