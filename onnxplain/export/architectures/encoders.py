"""Encoder adapters: where a BERT-family checkpoint keeps each weight of the canonical post-norm encoder, and
which flags set it apart. Adapters are data; `onnxplain/export/encoder.py` holds the one forward they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from onnxplain.errors import UserError
from onnxplain.export.architectures.weights import Linear, Norm, SelfAttention, StateReader


@dataclass(frozen=True)
class EncoderLayer:
    attention: SelfAttention
    attention_norm: Norm  # after the attention block's residual add (post-norm)
    intermediate: Linear
    output: Linear
    output_norm: Norm


@dataclass(frozen=True)
class EncoderWeights:
    """Everything the canonical post-norm encoder needs, read out of one checkpoint."""

    architecture: str
    num_heads: int
    activation: str  # of the feed-forward block
    pad_token_id: int
    position_scheme: str  # "absolute": 0..T-1; "after-padding": RoBERTa's pad_id + 1 + index of non-pad
    word_embeddings: Tensor
    position_embeddings: Tensor
    token_type_embeddings: Tensor | None
    embedding_norm: Norm
    embedding_projection: Linear | None
    layers: tuple[EncoderLayer, ...]
    classifier: tuple[tuple[Linear, str | None], ...]  # applied to token 0: (layer, activation after it); () for QA
    position_padding_id: int = 0  # the id "after-padding" positions count from (MPNet: always 1)
    relative_attention_bias: Tensor | None = None  # [buckets, heads], added to every layer's scores (MPNet)
    span_head: Linear | None = None  # extractive question answering: start and end logit of every token
    special_token_ids: tuple[int, ...] = ()  # ids the tokenizer adds around a text ([CLS], [SEP], <s>, pad)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_labels(self) -> int:
        """Classes of a classifier; for question answering the two logits of each token (start, end)."""
        head = self.span_head if self.span_head is not None else self.classifier[-1][0]
        return int(head.weight.shape[0])


@dataclass(frozen=True)
class EncoderAdapter:
    """Names of a checkpoint's weights, relative to the prefixes given, and its flags."""

    model_types: tuple[str, ...]
    embeddings: str
    layers: str
    classifier: tuple[tuple[str, str | None], ...]
    word: str = "word_embeddings"
    position: str = "position_embeddings"
    token_type: str | None = "token_type_embeddings"
    embedding_norm: str = "LayerNorm"
    embedding_projection: str | None = None
    query: str = "attention.self.query"
    key: str = "attention.self.key"
    value: str = "attention.self.value"
    attention_output: str = "attention.output.dense"
    attention_norm: str = "attention.output.LayerNorm"
    intermediate: str = "intermediate.dense"
    output: str = "output.dense"
    output_norm: str = "output.LayerNorm"
    position_scheme: str = "absolute"
    position_padding_id: int | None = None  # None: the config's pad_token_id
    relative_attention_bias: str | None = None
    span_head: str = "qa_outputs"
    activation_key: str = "hidden_act"


BERT = EncoderAdapter(
    model_types=("bert",),
    embeddings="bert.embeddings",
    layers="bert.encoder.layer",
    classifier=(("bert.pooler.dense", "tanh"), ("classifier", None)),
)
ROBERTA = EncoderAdapter(
    model_types=("roberta", "xlm-roberta", "camembert"),
    embeddings="roberta.embeddings",
    layers="roberta.encoder.layer",
    classifier=(("classifier.dense", "tanh"), ("classifier.out_proj", None)),
    position_scheme="after-padding",
)
ELECTRA = EncoderAdapter(
    model_types=("electra",),
    embeddings="electra.embeddings",
    layers="electra.encoder.layer",
    classifier=(("classifier.dense", "gelu"), ("classifier.out_proj", None)),
    embedding_projection="electra.embeddings_project",
)
DISTILBERT = EncoderAdapter(
    model_types=("distilbert",),
    embeddings="distilbert.embeddings",
    layers="distilbert.transformer.layer",
    classifier=(("pre_classifier", "relu"), ("classifier", None)),
    token_type=None,
    query="attention.q_lin",
    key="attention.k_lin",
    value="attention.v_lin",
    attention_output="attention.out_lin",
    attention_norm="sa_layer_norm",
    intermediate="ffn.lin1",
    output="ffn.lin2",
    output_norm="output_layer_norm",
    activation_key="activation",
)

MPNET = EncoderAdapter(
    model_types=("mpnet",),
    embeddings="mpnet.embeddings",
    layers="mpnet.encoder.layer",
    classifier=(("classifier.dense", "tanh"), ("classifier.out_proj", None)),
    token_type=None,
    query="attention.attn.q",
    key="attention.attn.k",
    value="attention.attn.v",
    attention_output="attention.attn.o",
    attention_norm="attention.LayerNorm",
    position_scheme="after-padding",
    position_padding_id=1,  # Hugging Face's MPNetEmbeddings fixes it, whatever the config says
    relative_attention_bias="mpnet.encoder.relative_attention_bias.weight",
)

ADAPTERS: tuple[EncoderAdapter, ...] = (BERT, ROBERTA, ELECTRA, DISTILBERT, MPNET)


def encoder_model_types() -> list[str]:
    return sorted(t for adapter in ADAPTERS for t in adapter.model_types)


def encoder_adapter_for(model_type: str) -> EncoderAdapter | None:
    return next((a for a in ADAPTERS if model_type in a.model_types), None)


def read_encoder_weights(model_type: str, config: Any, state: dict[str, Tensor], task: str) -> EncoderWeights:
    """Pick the canonical encoder's weights out of a sequence-classification or question-answering state dict."""
    adapter = encoder_adapter_for(model_type)
    if adapter is None:
        raise UserError(f"model type {model_type!r} is not a supported encoder ({', '.join(encoder_model_types())})")
    if task not in ("sequence-classification", "question-answering"):
        raise UserError(
            f"onnxplain exports {model_type} models for sequence classification or question answering, not {task}"
        )
    answers_questions = task == "question-answering"
    read = StateReader(state, f"a {model_type} {task} model", float(getattr(config, "layer_norm_eps", 1e-12)))

    def layer(i: int) -> EncoderLayer:
        p = f"{adapter.layers}.{i}"
        return EncoderLayer(
            attention=SelfAttention(
                query=read.linear(f"{p}.{adapter.query}"),
                key=read.linear(f"{p}.{adapter.key}"),
                value=read.linear(f"{p}.{adapter.value}"),
                output=read.linear(f"{p}.{adapter.attention_output}"),
            ),
            attention_norm=read.norm(f"{p}.{adapter.attention_norm}"),
            intermediate=read.linear(f"{p}.{adapter.intermediate}"),
            output=read.linear(f"{p}.{adapter.output}"),
            output_norm=read.norm(f"{p}.{adapter.output_norm}"),
        )

    if answers_questions and read.tensor(f"{adapter.span_head}.weight").shape[0] != 2:
        raise UserError(f"{adapter.span_head} must give 2 logits per token (start, end); is this a span QA model?")
    e = adapter.embeddings
    projection = adapter.embedding_projection
    pad_token_id = int(getattr(config, "pad_token_id", None) or 0)
    relative = adapter.relative_attention_bias
    return EncoderWeights(
        architecture=adapter.model_types[0],
        num_heads=int(config.num_attention_heads),
        activation=str(getattr(config, adapter.activation_key)),
        pad_token_id=pad_token_id,
        position_scheme=adapter.position_scheme,
        word_embeddings=read.tensor(f"{e}.{adapter.word}.weight"),
        position_embeddings=read.tensor(f"{e}.{adapter.position}.weight"),
        token_type_embeddings=read.tensor(f"{e}.{adapter.token_type}.weight") if adapter.token_type else None,
        embedding_norm=read.norm(f"{e}.{adapter.embedding_norm}"),
        embedding_projection=read.linear(projection) if projection and read.has(f"{projection}.weight") else None,
        layers=tuple(layer(i) for i in range(int(config.num_hidden_layers))),
        classifier=() if answers_questions else tuple((read.linear(name), act) for name, act in adapter.classifier),
        position_padding_id=pad_token_id if adapter.position_padding_id is None else adapter.position_padding_id,
        relative_attention_bias=read.tensor(relative) if relative else None,
        span_head=read.linear(adapter.span_head) if answers_questions else None,
    )
