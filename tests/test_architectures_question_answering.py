"""Extractive question answering (BERT family): the canonical encoder's start and end logits equal Hugging
Face's, the explanation is the start logit's at the answer start plus the end logit's at the answer end,
CP-LRP conserves their sum on a zero-bias model, and head masks change only the masked methods."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from onnxplain.export.checkpoint import Checkpoint, load_checkpoint
from onnxplain.export.encoder import encode
from onnxplain.export.explain import explain
from onnxplain.export.registry import METHOD_NAMES, METHODS
from onnxplain.export.rulesets import Gradient
from tests.contract import assert_matches_contract
from tests.tiny_models import build_tiny_classifier


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    return load_checkpoint(
        build_tiny_classifier(tmp_path_factory.mktemp("qa"), "bert", seed=8, task="question-answering")
    )


def pairs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two question + context pairs (segments 0 and 1), the second right-padded."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1000, 30000, (2, 16), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    attention_mask[1, 12:] = 0
    input_ids[1, 12:] = 0
    token_type_ids[1, 12:] = 0
    return input_ids, attention_mask, token_type_ids


def run(checkpoint: Checkpoint, target: torch.Tensor, methods=METHOD_NAMES, head_mask=None) -> dict[str, torch.Tensor]:
    weights = checkpoint.weights
    head_mask = torch.ones(weights.num_layers, weights.num_heads) if head_mask is None else head_mask
    input_ids, attention_mask, token_type_ids = pairs()
    return explain(weights, input_ids, attention_mask, token_type_ids, target, head_mask, methods)


def test_checkpoint_is_read_as_question_answering(checkpoint: Checkpoint) -> None:
    assert checkpoint.task == "question-answering"
    assert checkpoint.labels == {0: "start", 1: "end"}
    assert checkpoint.weights.num_labels == 2


def test_start_and_end_logits_match_hugging_face(checkpoint: Checkpoint) -> None:
    import transformers

    reference = transformers.AutoModelForQuestionAnswering.from_pretrained(
        checkpoint.directory, attn_implementation="eager"
    ).eval()
    input_ids, attention_mask, token_type_ids = pairs()
    with torch.no_grad():
        expected = reference(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
    heads = torch.ones(checkpoint.weights.num_layers, checkpoint.weights.num_heads)
    trace = encode(checkpoint.weights, Gradient(), input_ids, attention_mask, token_type_ids, heads)
    assert trace.logits.shape == (2, 16, 2)
    assert torch.allclose(trace.logits[..., 0], expected.start_logits, atol=1e-5, rtol=0)
    assert torch.allclose(trace.logits[..., 1], expected.end_logits, atol=1e-5, rtol=0)


def test_explanation_is_the_sum_of_start_and_end(checkpoint: Checkpoint) -> None:
    span = torch.tensor([[6, 8], [7, 7]])
    both = run(checkpoint, span, methods=("grad-input", "rollout"))
    # gradient x input is linear in where the backward pass starts: the sum of the two explanations is the
    # explanation of the sum of the two logits
    weights = checkpoint.weights
    input_ids, attention_mask, token_type_ids = pairs()
    heads = torch.ones(weights.num_layers, weights.num_heads)
    trace = encode(weights, Gradient(), input_ids, attention_mask, token_type_ids, heads)
    answer_logits = trace.logits[[0, 1], span[:, 0], 0] + trace.logits[[0, 1], span[:, 1], 1]
    (gradient,) = torch.autograd.grad(answer_logits.sum(), [trace.embeddings])
    expected = (gradient * trace.word_embeddings).sum(dim=-1) * attention_mask
    assert torch.allclose(both["grad-input"], expected, atol=1e-6)
    # the rollout of a span reads the rows of its start and its end: rows of a row-stochastic matrix sum to 1
    assert torch.allclose(both["rollout"].sum(dim=1), torch.full((2,), 2.0), atol=1e-5)


def test_predicted_answer_is_the_argmax_over_real_tokens(checkpoint: Checkpoint) -> None:
    predicted = run(checkpoint, torch.full((2, 2), -1), methods=("attnlrp",))
    logits = predicted["logits"]
    _, attention_mask, _ = pairs()
    blocked = torch.finfo(torch.float32).min
    starts = torch.where(attention_mask > 0, logits[..., 0], blocked).argmax(dim=1)
    ends = torch.where(attention_mask > 0, logits[..., 1], blocked).argmax(dim=1)
    chosen = run(checkpoint, torch.stack((starts, ends), dim=1), methods=("attnlrp",))
    assert torch.equal(predicted["attnlrp"], chosen["attnlrp"])
    assert (predicted["attnlrp"][1, 12:] == 0).all()


def test_cp_lrp_conserves_the_answer_logits_on_a_zero_bias_model(tmp_path: Path) -> None:
    checkpoint = load_checkpoint(
        build_tiny_classifier(tmp_path, "bert", seed=4, zero_bias=True, task="question-answering")
    )
    span = torch.tensor([[6, 9], [5, 11]])
    outputs = run(checkpoint, span, methods=("cp-lrp", "full-lrp"))
    logits = outputs["logits"]
    answer_logits = logits[[0, 1], span[:, 0], 0] + logits[[0, 1], span[:, 1], 1]
    assert torch.allclose(outputs["cp-lrp"].sum(dim=1), answer_logits, rtol=1e-4, atol=1e-5)
    assert torch.allclose(outputs["full-lrp"].sum(dim=1), torch.full((2,), 2.0), atol=1e-3)  # 1 per logit


def test_head_mask_changes_only_the_masked_methods(checkpoint: Checkpoint) -> None:
    weights = checkpoint.weights
    partial = torch.ones(weights.num_layers, weights.num_heads)
    partial[-1, [0, 3]] = 0
    span = torch.tensor([[6, 8], [7, 10]])
    kept = run(checkpoint, span)
    masked = run(checkpoint, span, head_mask=partial)
    for method in ("logits", *METHOD_NAMES):
        if method in METHODS and METHODS[method].reads_head_mask:
            assert not torch.allclose(kept[method], masked[method]), method
        else:
            assert torch.equal(kept[method], masked[method]), method


@pytest.mark.slow
def test_question_answering_exports_and_explains_pairs(tmp_path: Path) -> None:
    import json

    from onnxplain.export import export_model
    from onnxplain.export.verify import check_against_eager
    from onnxplain.runtime import Explainer, artifact

    methods = ["mask-lrp", "attnlrp", "grad-input"]
    model_dir = build_tiny_classifier(
        tmp_path / "model", "bert", seed=9, task="question-answering", num_hidden_layers=1
    )
    out = export_model(model_dir, tmp_path / "artifact", methods=methods)
    weights = load_checkpoint(model_dir).weights
    check_against_eager(weights, methods, True, out / artifact.MODEL_FILE, shapes=((2, 9), (5, 31)))
    manifest = assert_matches_contract(out)  # the manifest against its JSON Schema
    assert (manifest["task"], manifest["explained_position"]) == ("question-answering", "answer-start-and-end")

    explainer = Explainer.load(out)
    questions = ["who directed the film?", "when?"]
    contexts = ["the film was directed by agnes varda in paris", "in the summer of 1962, on a long afternoon"]
    pairs = list(zip(questions, contexts, strict=True))
    together = explainer.explain(pairs, method="attnlrp")
    [alone] = explainer.explain(pairs[1:], method="attnlrp")
    assert together[1].relevance == pytest.approx(alone.relevance, rel=1e-3, abs=1e-6)  # padded in the batch
    segments = together[0].token_segments
    assert segments[0] is None and 0 in segments and 1 in segments
    [chosen] = explainer.explain(pairs[0], method="attnlrp", target=(9, 10))
    assert (chosen.start_token, chosen.end_token) == (9, 10)
    assert chosen.answer == contexts[0][chosen.answer_start : chosen.answer_end] and chosen.answer

    # onnxplain evaluate: the answer-token metric, through the command line
    from onnxplain.cli import main

    data = tmp_path / "qa.jsonl"
    rows = [
        {"question": q, "context": c, "answer": c.split()[-1], "answer_start": c.rindex(c.split()[-1])}
        for q, c in zip(questions, contexts, strict=True)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert main(["evaluate", str(out), "--data", str(data), "--out", str(tmp_path / "eval"), "--answer-top", "3"]) == 0
    scores = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert scores["examples"] == 2 and set(scores["methods"]) == set(methods)
    assert all(0 <= s["share"] <= 1 for s in scores["methods"].values())


@pytest.mark.parametrize("architecture", ["roberta", "electra", "distilbert", "mpnet"])
def test_other_encoders_answer_like_hugging_face_and_explain_every_method(architecture: str, tmp_path: Path) -> None:
    """The question-answering head on the other encoders of the architecture table: start and end logits
    equal Hugging Face's, and every method gives finite relevance that is 0 on padding."""
    import transformers

    checkpoint = load_checkpoint(build_tiny_classifier(tmp_path, architecture, seed=9, task="question-answering"))
    weights = checkpoint.weights
    assert checkpoint.task == "question-answering" and weights.num_labels == 2
    input_ids, attention_mask, token_type_ids = pairs()
    segments = weights.token_type_embeddings
    token_type_ids = None if segments is None else token_type_ids.clamp(max=segments.shape[0] - 1)
    reference = transformers.AutoModelForQuestionAnswering.from_pretrained(
        checkpoint.directory, attn_implementation="eager"
    ).eval()
    extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
    with torch.no_grad():
        expected = reference(input_ids=input_ids, attention_mask=attention_mask, **extra)
    heads = torch.ones(weights.num_layers, weights.num_heads)
    trace = encode(weights, Gradient(), input_ids, attention_mask, token_type_ids, heads)
    assert torch.allclose(trace.logits[..., 0], expected.start_logits, atol=1e-5, rtol=0)
    assert torch.allclose(trace.logits[..., 1], expected.end_logits, atol=1e-5, rtol=0)
    outputs = explain(weights, input_ids, attention_mask, token_type_ids, torch.tensor([[6, 8], [-1, -1]]), heads)
    for method in METHOD_NAMES:
        assert torch.isfinite(outputs[method]).all(), method
        assert (outputs[method][attention_mask == 0] == 0).all(), method
        assert outputs[method].abs().sum() > 0, method
