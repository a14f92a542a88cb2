"""GPT-2 and the Llama family (Llama, Qwen2, Mistral) as sequence classifiers and causal language models:
the canonical decoder equals Hugging Face, padding on either side changes nothing, CP-LRP conserves on
zero-bias models, head masks behave as SPEC 2.2 says, and the exported graph equals eager PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from onnxplain.export.checkpoint import Checkpoint, load_checkpoint
from onnxplain.export.decoder import decode
from onnxplain.export.methods import backward, target_one_hot
from onnxplain.export.positions import real_token_positions
from onnxplain.export.registry import METHOD_NAMES, tolerance
from onnxplain.export.rulesets import ConservativePropagation, Gradient
from tests.explaining import assert_only_masked_methods_changed
from tests.explaining import explain_eagerly as run
from tests.tiny_models import build_tiny_classifier

DECODERS = ["gpt2", "llama", "qwen2", "mistral"]
TASKS = ["sequence-classification", "causal-lm"]


@pytest.fixture(scope="module", params=DECODERS)
def classifier(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    return load_checkpoint(build_tiny_classifier(tmp_path_factory.mktemp(request.param), request.param, seed=5))


def padded_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three texts of 12, 8 and 9 tokens: unpadded, right-padded and left-padded to 12."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, 30000, (3, 12), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 8:] = 0
    attention_mask[2, :3] = 0
    input_ids[attention_mask == 0] = 0
    return input_ids, attention_mask


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("architecture", DECODERS)
def test_canonical_decoder_matches_hugging_face(architecture: str, task: str, tmp_path: Path) -> None:
    import transformers

    model_dir = build_tiny_classifier(tmp_path, architecture, seed=3, task=task)
    checkpoint = load_checkpoint(model_dir)
    assert checkpoint.task == task
    auto = transformers.AutoModelForCausalLM if task == "causal-lm" else transformers.AutoModelForSequenceClassification
    reference = auto.from_pretrained(model_dir, attn_implementation="eager").eval()
    input_ids, attention_mask = padded_batch()
    last = torch.tensor([11, 7, 11])
    with torch.no_grad():
        # Hugging Face counts positions from the first column; given positions that skip left padding,
        # it agrees with onnxplain, which counts real tokens only
        expected = reference(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=real_token_positions(attention_mask)
        ).logits
        unaided = reference(input_ids=input_ids[:2], attention_mask=attention_mask[:2]).logits
    if task == "causal-lm":
        expected, unaided = expected[torch.arange(3), last], unaided[torch.arange(2), last[:2]]
    heads = torch.ones(checkpoint.weights.num_layers, checkpoint.weights.num_heads)
    trace = decode(checkpoint.weights, Gradient(), input_ids, attention_mask, heads)
    assert torch.equal(trace.explained_position, last)
    assert torch.allclose(trace.logits, expected, atol=1e-5, rtol=1e-5)
    assert torch.allclose(trace.logits[:2], unaided, atol=1e-5, rtol=1e-5)  # no padding or right padding


def test_padding_on_either_side_changes_no_method(classifier: Checkpoint) -> None:
    input_ids, attention_mask = padded_batch()
    together = run(classifier, input_ids, attention_mask, target=torch.tensor([0, 2, 1]))
    for row, target in ((1, 2), (2, 1)):
        real = attention_mask[row].bool()
        alone = run(
            classifier,
            input_ids[row : row + 1, real],
            attention_mask[row : row + 1, real],
            target=torch.tensor([target]),
        )
        for method in ("logits", *METHOD_NAMES):
            got = together[method][row] if method == "logits" else together[method][row, real]
            expected = alone[method][0]
            scale = expected.abs().max().clamp(min=1e-6)
            # float rounding differs between padded and unpadded shapes (relevance summed from terms far
            # larger than itself, as attcat's is); a leak through padding is off by order 1
            assert (got - expected).abs().max() / scale < 10 * tolerance(method), (row, method)
            if method != "logits":
                assert (together[method][row, ~real] == 0).all(), method


def test_methods_read_the_last_real_token(classifier: Checkpoint) -> None:
    input_ids, attention_mask = padded_batch()
    outputs = run(classifier, input_ids, attention_mask, methods=("raw-attention", "rollout", "transatt"))
    # under a causal mask the last token's attention row covers every real token; the rollout row of any
    # earlier token would be zero after it
    assert (outputs["raw-attention"][attention_mask == 1] > 0).all()
    assert torch.allclose(outputs["rollout"].sum(dim=1), torch.ones(3), atol=1e-5)
    assert (outputs["transatt"][[0, 1, 2], [11, 7, 11]] == 0).all()  # J[p, p] = 0 at the explained position


@pytest.mark.parametrize("architecture", DECODERS)
def test_cp_lrp_conserves_the_target_logit_on_a_zero_bias_model(architecture: str, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(build_tiny_classifier(tmp_path, architecture, seed=4, zero_bias=True))
    input_ids, attention_mask = padded_batch()
    target = torch.tensor([0, 1, 2])
    outputs = run(checkpoint, input_ids, attention_mask, target=target, methods=("cp-lrp", "full-lrp"))
    target_logits = outputs["logits"].gather(1, target[:, None])[:, 0]
    assert torch.allclose(outputs["cp-lrp"].sum(dim=1), target_logits, rtol=1e-4, atol=1e-5)
    # Chefer's rules conserve the one-hot start relevance whatever the biases
    assert torch.allclose(outputs["full-lrp"].sum(dim=1), torch.ones(3), atol=1e-3)


def test_head_mask_follows_spec_2_2(classifier: Checkpoint) -> None:
    weights = classifier.weights
    input_ids, attention_mask = padded_batch()
    partial = torch.ones(weights.num_layers, weights.num_heads)
    partial[-1, [0, 2]] = 0
    partial[0, 1] = 0
    kept = run(classifier, input_ids, attention_mask)
    masked = run(classifier, input_ids, attention_mask, head_mask=partial)
    assert_only_masked_methods_changed(kept, masked)
    for unmasked in ("attnlrp", "cp-lrp"):
        assert torch.allclose(kept[unmasked], kept[f"mask-{unmasked}"])

    # with every head masked no relevance crosses between tokens: it stays on the explained token
    none_kept = torch.zeros(weights.num_layers, weights.num_heads)
    one_hot = target_one_hot(kept["logits"], torch.full((3,), -1))
    trace = decode(weights, ConservativePropagation(head_masked=True), input_ids, attention_mask, none_kept)
    (gradient,) = backward(trace, one_hot, [trace.embeddings])
    token_relevance = (gradient * trace.embeddings).sum(dim=-1)
    explained = torch.zeros_like(token_relevance, dtype=torch.bool)
    explained[[0, 1, 2], [11, 7, 11]] = True
    assert token_relevance[~explained].abs().max() == 0
    assert token_relevance[explained].abs().min() > 0


def test_causal_lm_explains_the_chosen_or_the_predicted_next_token(tmp_path: Path) -> None:
    checkpoint = load_checkpoint(build_tiny_classifier(tmp_path, "llama", seed=6, task="causal-lm"))
    assert checkpoint.weights.num_labels == 30522
    input_ids, attention_mask = padded_batch()
    predicted = run(checkpoint, input_ids, attention_mask, methods=("attnlrp",))
    chosen = predicted["logits"].argmax(dim=1)
    again = run(checkpoint, input_ids, attention_mask, target=chosen, methods=("attnlrp",))
    other = run(checkpoint, input_ids, attention_mask, target=torch.tensor([5000, 6000, 7000]), methods=("attnlrp",))
    assert torch.equal(predicted["attnlrp"], again["attnlrp"])
    assert not torch.allclose(predicted["attnlrp"], other["attnlrp"])
