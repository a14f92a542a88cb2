"""Recipe files: the shipped recipes parse, and every mistake ends in one clear RecipeError."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnxplain.export.registry import METHOD_NAMES
from onnxplain.recipes.recipe import RecipeError, default_models_dir, load_recipe, parse_recipe

MINILM = default_models_dir() / "minilm-sentiment" / "recipe.toml"


def minilm_text() -> str:
    return MINILM.read_text(encoding="utf-8")


def parse(text: str):
    return parse_recipe(text, Path("test/recipe.toml"))


def test_shipped_recipes_parse() -> None:
    minilm = load_recipe("minilm-sentiment")
    assert minilm.base.architecture == "bert"
    assert not minilm.base.is_split_archive
    assert minilm.split.train + minilm.split.heldout == 4000
    assert minilm.labels == ("negative", "positive")
    assert minilm.data.labels == {"1": "positive", "-1": "negative"}
    mpnet = load_recipe("mpnet-sentiment")
    assert mpnet.base.architecture == "mpnet"
    assert mpnet.base.is_split_archive
    members = [p.member for p in mpnet.base.packages]
    assert members == sorted(members) and len(members) == 5
    assert members[0].endswith(".zip.001") and members[-1].endswith(".zip.005")


def test_load_by_name_folder_and_file_agree() -> None:
    by_name = load_recipe("minilm-sentiment")
    assert load_recipe(MINILM.parent) == by_name
    assert load_recipe(MINILM) == by_name


def test_unknown_recipe_lists_known_names() -> None:
    with pytest.raises(RecipeError, match="minilm-sentiment"):
        load_recipe("no-such-recipe")


def test_missing_key_is_named() -> None:
    with pytest.raises(RecipeError, match=r"\[finetune\] lacks the key 'epochs'"):
        parse(minilm_text().replace("epochs = 2\n", ""))


def test_unknown_key_is_named() -> None:
    with pytest.raises(RecipeError, match="unknown key.*epoks"):
        parse(minilm_text().replace("epochs = 2\n", "epochs = 2\nepoks = 3\n"))


def test_bad_checksum_text_is_rejected() -> None:
    with pytest.raises(RecipeError, match="weights_sha256 is not a sha256"):
        parse(minilm_text().replace('weights_sha256 = "53aa', 'weights_sha256 = "zz'))


def test_wrong_type_is_rejected() -> None:
    with pytest.raises(RecipeError, match="batch_size = '32' is not an integer"):
        parse(minilm_text().replace("batch_size = 32", 'batch_size = "32"'))


def test_invalid_toml_is_rejected() -> None:
    with pytest.raises(RecipeError, match="not valid TOML"):
        parse(minilm_text() + "\n[broken\n")


def test_unknown_method_is_rejected() -> None:
    text = minilm_text().replace("[export]\n", '[export]\nmethods = ["mask-lrp", "magic"]\n')
    with pytest.raises(RecipeError, match="unknown method.*magic"):
        parse(text)


def test_data_labels_must_be_known_labels() -> None:
    with pytest.raises(RecipeError, match="labels list lacks"):
        parse(minilm_text().replace('"1" = "positive"', '"1" = "good"'))


def test_methods_default_to_every_method_and_overrides_apply() -> None:
    recipe = parse(minilm_text())
    assert recipe.export.methods is None
    changed = recipe.with_overrides(epochs=1, limit_train=64, calibration_limit=10, methods=("mask-lrp",))
    assert (changed.finetune.epochs, changed.finetune.limit_train) == (1, 64)
    assert changed.calibration.limit == 10
    assert changed.export.methods == ("mask-lrp",)
    assert recipe.finetune.epochs == 2  # the original is untouched
    assert changed.fingerprint("finetune") != recipe.fingerprint("finetune")
    assert changed.fingerprint("split") == recipe.fingerprint("split")
    with pytest.raises(RecipeError, match="--epochs"):
        recipe.with_overrides(epochs=0)
    with pytest.raises(RecipeError, match="unknown method"):
        recipe.with_overrides(methods=("nope",))
    assert set(METHOD_NAMES) >= set(changed.export.methods)
