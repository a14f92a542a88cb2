"""Positional heads on a tiny BERT whose layer-0 heads are set by hand, and the calibration end to end
(``calibrate_for_export`` and ``onnxplain heads``) on that model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from onnxplain.calibration import calibrate, calibrate_for_export
from onnxplain.calibration.corpus import corpus_sha256
from onnxplain.cli import main

pytest.importorskip("spacy")

HIDDEN, HEADS, HEAD_DIM, POSITIONS = 64, 4, 16, 64
UNIFORM_HEAD, PREVIOUS_TOKEN_HEAD = 0, 1
# angular frequencies of the position code; the slowest one never repeats within POSITIONS tokens, so the
# scores below peak only at the intended offset
FREQUENCIES = [2 * math.pi / 128 * k for k in (1, 2, 3, 5)]
SENTENCES = [
    "the film is a charming and often affecting journey .",
    "an unbelievably clumsy screenwriter wrecked this story .",
    "she quickly ate the apples .",
    "a gorgeous , witty , seductive movie .",
    "it never finds its footing and the actors look bored .",
    "the director gives us a strong and moving performance .",
]


def position_code(position: int) -> list[float]:
    """(cos, sin) pairs of every frequency, then their negatives: zero mean and constant norm, so the
    embedding LayerNorm only rescales it."""
    pairs = [f(w * position) for w in FREQUENCIES for f in (math.cos, math.sin)]
    return pairs + [-v for v in pairs] + [0.0] * (HIDDEN - 2 * len(pairs))


def build_positional_model(out: Path) -> Path:
    """One-layer BERT: head 0 attends uniformly, head 1 to the previous token, heads 2-3 random."""
    import torch
    import transformers as tf

    from tests.tiny_models import copy_tokenizer

    torch.manual_seed(0)
    config = tf.BertConfig(
        vocab_size=30522,
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=HEADS,
        intermediate_size=64,
        max_position_embeddings=POSITIONS,
        pad_token_id=0,
    )
    model = tf.BertModel(config, add_pooling_layer=False)
    embeddings = model.embeddings
    attention = model.encoder.layer[0].attention.self
    pairs = 2 * len(FREQUENCIES)
    with torch.no_grad():
        embeddings.word_embeddings.weight.zero_()
        embeddings.token_type_embeddings.weight.zero_()
        embeddings.position_embeddings.weight.copy_(torch.tensor([position_code(p) for p in range(POSITIONS)]))
        embeddings.LayerNorm.weight.fill_(1.0)
        embeddings.LayerNorm.bias.zero_()
        for head in (UNIFORM_HEAD, PREVIOUS_TOKEN_HEAD):
            rows = slice(head * HEAD_DIM, (head + 1) * HEAD_DIM)
            for layer in (attention.query, attention.key):
                layer.weight[rows] = 0.0
                layer.bias[rows] = 0.0
        # previous-token head: query reads the position code, key rotates it one step forward, so
        # q_i . k_j = sum_w cos(w (i - j - 1)), largest exactly at j = i - 1
        base = PREVIOUS_TOKEN_HEAD * HEAD_DIM
        for k, w in enumerate(FREQUENCIES):
            c, s = 2 * k, 2 * k + 1
            attention.query.weight[base + c, c] = 20.0
            attention.query.weight[base + s, s] = 20.0
            attention.key.weight[base + c, c] = math.cos(w)
            attention.key.weight[base + c, s] = -math.sin(w)
            attention.key.weight[base + s, c] = math.sin(w)
            attention.key.weight[base + s, s] = math.cos(w)
        assert pairs <= HEAD_DIM
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    copy_tokenizer(out)
    return out


@pytest.fixture(scope="module")
def positional_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_positional_model(tmp_path_factory.mktemp("positional-bert"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "sentences.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    return path


def test_previous_token_head_is_positional_and_uniform_head_is_not(positional_model_dir: Path, corpus: Path) -> None:
    # batch size 4 mixes lengths, so padding is exercised
    calibration = calibrate(positional_model_dir, corpus, mode="pos", batch_size=4, progress=False)
    assert calibration.positional_offset[0, PREVIOUS_TOKEN_HEAD] == -1
    assert calibration.positional_frequency[0, PREVIOUS_TOKEN_HEAD] == 1.0
    # uniform attention: every row's argmax is the first column, so the offset changes with every row
    assert calibration.positional_frequency[0, UNIFORM_HEAD] < 0.3
    assert calibration.mask[0, PREVIOUS_TOKEN_HEAD] == 1.0
    assert calibration.mask[0, UNIFORM_HEAD] == 0.0
    # one counted row per content token; [CLS], [SEP] and padding rows are not counted
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(positional_model_dir)
    assert calibration.positional_rows == sum(len(tokenizer.tokenize(s)) for s in SENTENCES)


def test_calibrate_for_export_returns_mask_and_provenance(positional_model_dir: Path, corpus: Path) -> None:
    mask, provenance = calibrate_for_export(
        positional_model_dir, corpus, thresholds={"positional": 0.9}, seed=3, progress=False
    )
    assert mask.dtype == np.float32 and mask.shape == (1, HEADS)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert provenance["mode"] == "synt+pos"
    assert provenance["thresholds"]["positional"] == 0.9 and provenance["thresholds"]["nsubj"] == 0.46
    assert provenance["corpus"] == {
        "path": str(corpus),
        "sha256": corpus_sha256(corpus),
        "sentences": len(SENTENCES),
    }
    assert provenance["kept_heads"] == np.argwhere(mask > 0).tolist()
    assert [0, PREVIOUS_TOKEN_HEAD] in provenance["kept_heads"]
    assert set(provenance["statistics"]["syntactic_accuracy"]) == {"nsubj", "obj", "amod", "advmod"}
    json.dumps(provenance, allow_nan=False)  # goes into manifest.json as it is


def test_heads_command_writes_mask_statistics_and_picture(
    positional_model_dir: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "heads"
    status = main(["heads", str(positional_model_dir), "--corpus", str(corpus), "--out", str(out), "--quiet"])
    assert status == 0
    mask = np.load(out / "mask.npy")
    assert mask.shape == (1, HEADS) and mask[0, PREVIOUS_TOKEN_HEAD] == 1.0
    statistics = json.loads((out / "statistics.json").read_text(encoding="utf-8"))
    assert statistics["kept_heads"] == np.argwhere(mask > 0).tolist()
    assert statistics["statistics"]["kept_by_mode"]["all"] == HEADS
    assert (out / "heads.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "heads kept" in capsys.readouterr().out


def test_heads_command_reports_a_bad_corpus_in_one_line(
    positional_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "corpus.csv"
    bad.write_text("label,review\n1,good\n", encoding="utf-8")
    status = main(["heads", str(positional_model_dir), "--corpus", str(bad), "--out", str(tmp_path / "o")])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert error.startswith("onnxplain heads: error:") and "--text-column" in error and "\n" not in error


def test_left_padding_gives_the_same_statistics_as_right_padding(positional_model_dir: Path) -> None:
    """Decoder tokenizers pad on the left: token positions of the arcs must move with the padding."""
    from onnxplain.calibration.attention_pass import collect_head_statistics
    from onnxplain.calibration.calibrate import load_model
    from onnxplain.calibration.dependencies import load_parser, parse_arcs

    # 6 and 8 tokens: left padding puts the short sentence's [CLS] at column 2, where its arcs' head word
    # "ate" sits before padding, so an unshifted arc would count the uniform head's argmax as a hit
    texts = ["she ate apples .", "the movie is very good ."]
    model, tokenizer = load_model(positional_model_dir)
    arcs = list(parse_arcs(texts, load_parser(), progress=False))
    assert len(arcs[0]) == 2
    results = {}
    for side in ("right", "left"):
        tokenizer.padding_side = side
        results[side] = collect_head_statistics(model, tokenizer, texts, arcs, batch_size=2, progress=False)
    right, left = results["right"], results["left"]
    # heads 0 and 1 depend on relative position only; the random heads 2 and 3 see absolute positions move
    hand_set = slice(0, 2)
    assert right.syntactic_arcs.tolist() == left.syntactic_arcs.tolist()
    assert right.syntactic_hits[0, UNIFORM_HEAD].sum() == 0
    np.testing.assert_array_equal(right.syntactic_hits[:, hand_set], left.syntactic_hits[:, hand_set])
    np.testing.assert_array_equal(right.offset_counts[:, hand_set], left.offset_counts[:, hand_set])


def test_a_classifier_checkpoint_is_calibrated_through_its_encoder(tiny_model_dir: Path, corpus: Path) -> None:
    """``onnxplain export --calibration`` passes a sequence-classification directory: its encoder is used."""
    mask, provenance = calibrate_for_export(tiny_model_dir, corpus, mode="all", progress=False)
    assert mask.shape == (2, 4) and mask.sum() == 8
    assert provenance["statistics"]["positional_rows"] > 0
    assert sum(provenance["statistics"]["arcs"].values()) > 0
