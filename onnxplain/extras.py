"""Which optional extra of the package provides a module, so that a command whose extra is not installed
ends in one sentence naming the ``pip install`` that fixes it, not in an ImportError traceback."""

from __future__ import annotations

# top-level module -> the extra (pyproject's optional-dependencies) that installs it
EXTRA_OF_MODULE: dict[str, str] = {
    "starlette": "serve",
    "uvicorn": "serve",
    "jsonschema": "serve",
    "matplotlib": "plots",
    "torch": "export",
    "transformers": "export",
    "optimum": "export",
    "onnxscript": "export",
    "safetensors": "export",
    "spacy": "export",
    "captum": "dev",
    "ray": "ray",
    "pyarrow": "ray",
    "tritonclient": "dev",
    "schemathesis": "dev",
}


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The sentence for a module that an extra provides, or None when the missing module is not one of them."""
    top = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return (
        f"this needs the '{extra}' extra (module {top} is not installed); "
        f"install it with: pip install 'onnxplain[{extra}]'"
    )
