from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT classifier (3 labels) saved as a Hugging Face directory."""
    from tests.tiny_models import build_tiny_classifier

    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-bert"), "bert", seed=0)


@pytest.fixture(scope="session")
def tiny_artifact(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT exported with every method and a partial head mask (heads 0, 2 of layer 0 and head 1
    of layer 1 off: a layer's mask changes Mask-LRP only through the layers below it)."""
    import numpy as np

    from onnxplain.export import export_model

    head_mask = np.ones((2, 4), dtype=np.float32)
    head_mask[0, [0, 2]] = 0.0
    head_mask[1, 1] = 0.0
    out = tmp_path_factory.mktemp("tiny-artifact")
    return export_model(tiny_model_dir, out, head_mask=head_mask, head_mask_source="test fixture")


@pytest.fixture(scope="session")
def tiny_qa_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer random BERT question answering model, exported with three methods (about 30 s)."""
    from onnxplain.export import export_model
    from tests.tiny_models import build_tiny_classifier

    model_dir = build_tiny_classifier(
        tmp_path_factory.mktemp("tiny-qa-model"), "bert", seed=9, task="question-answering", num_hidden_layers=1
    )
    out = tmp_path_factory.mktemp("tiny-qa-artifact")
    return export_model(model_dir, out, methods=["mask-lrp", "attnlrp", "grad-input"])


@pytest.fixture(scope="session")
def minilm_demo_artifact() -> Path:
    """The real MiniLM sentiment artifact of ``onnxplain demo`` (every method), built once and cached under the
    user's cache folder (fine-tuning takes minutes on 2 cores the first time). For ``slow`` tests only."""
    from onnxplain.recipes.build import build
    from onnxplain.recipes.demo import DEMO_RECIPE
    from onnxplain.recipes.fetch import cache_dir
    from onnxplain.recipes.recipe import load_recipe

    return build(load_recipe(DEMO_RECIPE), cache_dir() / "models" / DEMO_RECIPE, progress=False).artifact_dir


@pytest.fixture(scope="session")
def long_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT of 512 positions exported with ``mask-lrp`` and ``attnlrp``, for tests that measure
    memory: at the tiny artifact's 64 tokens a call needs about 1 MiB, no more than what the rest of a test
    process allocates and frees around it (probes of every shape then read the same 1.5 MiB), while here a
    call of 512 tokens needs about 18 MiB and a batch of 4 about four times that."""
    from onnxplain.export import export_model
    from tests.tiny_models import build_tiny_classifier

    model = build_tiny_classifier(tmp_path_factory.mktemp("long-bert"), "bert", seed=0, max_position_embeddings=512)
    return export_model(model, tmp_path_factory.mktemp("long-artifact"), methods=["mask-lrp", "attnlrp"])


@pytest.fixture(params=["kernel-mark", "sampled"])
def memory_measuring(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Both ways a call's memory is measured: the kernel's high-water mark, and sampling (what a kernel that
    ignores the mark's reset gets), each with a cache of its own so that the probes run again."""
    from onnxplain.runtime import process_memory

    if request.param == "sampled":
        monkeypatch.setattr(process_memory, "reset_high_water_mark", lambda: False)
    monkeypatch.setenv("ONNXPLAIN_CACHE", str(tmp_path_factory.getbasetemp() / f"memory-cache-{request.param}"))
    return str(request.param)
