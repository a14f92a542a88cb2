"""Syntactic hit rates: a hand-built parse, the real MiniLM tokenizer, and attention maps forced per head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from onnxplain.calibration.alignment import AlignedArcs, TokenOffsets, align_arcs
from onnxplain.calibration.dependencies import RELATIONS, dependency_arcs
from onnxplain.calibration.statistics import BatchArcs, HeadStatistics, attention_argmax

spacy = pytest.importorskip("spacy")

# "unbelievably" (5 word pieces) is the advmod dependent of "clumsy"; "annihilated" (4 pieces) is the head
# of the nsubj "screenwriter" and of the dobj "screenplays" (2 pieces); "mediocre" (3 pieces) is an amod.
WORDS = ["The", "unbelievably", "clumsy", "screenwriter", "annihilated", "mediocre", "screenplays"]
HEADS = [3, 2, 3, 4, 4, 6, 4]
DEPS = ["det", "advmod", "amod", "nsubj", "ROOT", "amod", "dobj"]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from tests.tiny_models import minilm_dir

    return AutoTokenizer.from_pretrained(minilm_dir())


@pytest.fixture(scope="module")
def doc():
    from spacy.tokens import Doc

    return Doc(spacy.blank("en").vocab, words=WORDS, heads=HEADS, deps=DEPS)


def encode(tokenizer, text: str) -> tuple[list[int], TokenOffsets]:
    encoding = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    return encoding["input_ids"], TokenOffsets(encoding["offset_mapping"], encoding["special_tokens_mask"])


def word_span(doc, offsets: TokenOffsets, index: int) -> tuple[int, int]:
    word = doc[index]
    span = offsets.word_tokens(word.idx, word.idx + len(word.text))
    assert span is not None
    return span


def test_words_map_to_their_word_pieces_through_offsets(tokenizer, doc) -> None:
    ids, offsets = encode(tokenizer, doc.text)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert pieces[slice(*word_span(doc, offsets, 1))] == ["un", "##bel", "##ie", "##va", "##bly"]
    assert pieces[slice(*word_span(doc, offsets, 4))] == ["ann", "##ih", "##ila", "##ted"]
    assert pieces[slice(*word_span(doc, offsets, 6))] == ["screenplay", "##s"]
    assert pieces[slice(*word_span(doc, offsets, 0))] == ["the"]  # lower-cased by the tokenizer


def test_arcs_keep_the_four_relations_and_map_dobj_to_obj(doc) -> None:
    arcs = dependency_arcs(doc)
    found = sorted((RELATIONS[a.relation], doc.char_span(a.dependent_start, a.dependent_end).text) for a in arcs)
    assert found == [
        ("advmod", "unbelievably"),
        ("amod", "clumsy"),
        ("amod", "mediocre"),
        ("nsubj", "screenwriter"),
        ("obj", "screenplays"),
    ]


def test_punctuation_numbers_and_one_character_words_are_skipped() -> None:
    from spacy.tokens import Doc

    vocab = spacy.blank("en").vocab
    skipped = Doc(vocab, words=["I", "ate", "42", "."], heads=[1, 1, 1, 1], deps=["nsubj", "ROOT", "dobj", "punct"])
    assert dependency_arcs(skipped) == []
    kept = Doc(vocab, words=["She", "ate", "apples"], heads=[1, 1, 1], deps=["nsubj", "ROOT", "dobj"])
    assert len(dependency_arcs(kept)) == 2


def test_truncated_words_drop_their_arcs(tokenizer, doc) -> None:
    encoding = tokenizer(
        doc.text, return_offsets_mapping=True, return_special_tokens_mask=True, truncation=True, max_length=10
    )
    aligned = align_arcs(
        dependency_arcs(doc), TokenOffsets(encoding["offset_mapping"], encoding["special_tokens_mask"])
    )
    # only "unbelievably" -> "clumsy" and "clumsy" -> "screenwriter" survive 8 content tokens
    assert sorted(RELATIONS[r] for r in aligned.relation) == ["advmod", "amod"]


def forced_attention(length: int, rows: dict[int, int]) -> torch.Tensor:
    """A [length, length] attention map whose row q puts its mass on rows[q], every other row on itself."""
    attention = torch.eye(length) * 0.6 + 0.4 / length
    for query, key in rows.items():
        attention[query] = 0.4 / length
        attention[query, key] += 0.6
    return attention


def hit_rates(heads: list[torch.Tensor], aligned: AlignedArcs) -> np.ndarray:
    attentions = [torch.stack(heads)[None]]  # one layer, batch of one
    statistics = HeadStatistics(num_layers=1, num_heads=len(heads), max_length=heads[0].shape[0])
    argmax = attention_argmax(attentions, torch.ones(1, heads[0].shape[0], dtype=torch.long))
    batch = BatchArcs(
        example=torch.zeros(len(aligned), dtype=torch.long),
        query=torch.from_numpy(aligned.query),
        head_start=torch.from_numpy(aligned.head_start),
        head_end=torch.from_numpy(aligned.head_end),
        relation=torch.from_numpy(aligned.relation),
    )
    statistics.add_syntactic(argmax, batch)
    assert statistics.syntactic_arcs.tolist() == [1, 1, 2, 1]
    return statistics.syntactic_accuracy()[0]


def test_head_forced_onto_syntactic_heads_scores_one_and_others_score_zero(tokenizer, doc) -> None:
    ids, offsets = encode(tokenizer, doc.text)
    aligned = align_arcs(dependency_arcs(doc), offsets)
    length = len(ids)
    dependents = {token.i: word_span(doc, offsets, token.i) for token in doc if token.dep_ != "ROOT"}
    heads_of = {i: word_span(doc, offsets, doc[i].head.i) for i in dependents}

    # first sub-token of the dependent -> last sub-token of its head word
    to_last_piece = {dependents[i][0]: heads_of[i][1] - 1 for i in dependents}
    # first sub-token of the dependent -> first sub-token of its head word
    to_first_piece = {dependents[i][0]: heads_of[i][0] for i in dependents}
    # every sub-token but the first points at the head word: the first one, which counts, points at [SEP]
    later_pieces = {q: heads_of[i][0] for i in dependents for q in range(dependents[i][0] + 1, dependents[i][1])}
    later_pieces |= {dependents[i][0]: length - 1 for i in dependents}
    # the piece just after the head word (a neighbour, not the head)
    to_neighbour = {dependents[i][0]: heads_of[i][1] for i in dependents}

    rates = hit_rates(
        [
            forced_attention(length, to_last_piece),
            forced_attention(length, to_first_piece),
            forced_attention(length, {}),
            forced_attention(length, later_pieces),
            forced_attention(length, to_neighbour),
        ],
        aligned,
    )
    np.testing.assert_array_equal(rates[0], np.ones(4))
    np.testing.assert_array_equal(rates[1], np.ones(4))
    np.testing.assert_array_equal(rates[2], np.zeros(4))
    np.testing.assert_array_equal(rates[3], np.zeros(4))
    np.testing.assert_array_equal(rates[4], np.zeros(4))


def test_padding_never_wins_the_argmax() -> None:
    attention = torch.zeros(1, 1, 3, 3)
    attention[..., 2] = 1.0  # all mass on a padded column
    attention[..., 0] = 0.1
    argmax = attention_argmax([attention], torch.tensor([[1, 1, 0]]))
    assert argmax.tolist() == [[[[0, 0, 0]]]]
