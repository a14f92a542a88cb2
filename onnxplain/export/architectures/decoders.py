"""Decoder adapters: where a GPT-2 or Llama-family checkpoint keeps each weight of the canonical pre-norm
causal decoder, and which flags set it apart. Adapters are data; `onnxplain/export/decoder.py` holds the one
forward."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from onnxplain.errors import UserError
from onnxplain.export.architectures.weights import Linear, Norm, SelfAttention, StateReader


@dataclass(frozen=True)
class DecoderLayer:
    attention: SelfAttention
    attention_norm: Norm  # before attention (pre-norm)
    feed_forward_norm: Norm  # before the feed-forward block
    gate: Linear | None  # SwiGLU's gate projection; None for a plain MLP
    up: Linear
    down: Linear


@dataclass(frozen=True)
class DecoderWeights:
    """Everything the canonical pre-norm causal decoder needs, read out of one checkpoint. ``head`` maps
    the final hidden state of the explained position to the logits: a classifier's score layer or a
    language model's vocabulary projection."""

    architecture: str
    num_heads: int
    num_key_value_heads: int  # fewer than num_heads: grouped-query attention
    head_dim: int
    activation: str
    pad_token_id: int
    rms_norm: bool  # RMSNorm (no centring, no bias) instead of LayerNorm
    word_embeddings: Tensor
    position_embeddings: Tensor | None  # learned absolute positions (GPT-2); None with rotary
    rotary_base: float | None  # rotary embedding base (theta); None without rotary
    layers: tuple[DecoderLayer, ...]
    final_norm: Norm
    head: Linear
    special_token_ids: tuple[int, ...] = ()  # ids the tokenizer adds around a text (<s>, </s>, pad)

    token_type_embeddings = None  # decoders have no segment embeddings

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_labels(self) -> int:
        return int(self.head.weight.shape[0])


@dataclass(frozen=True)
class DecoderAdapter:
    """Names of a checkpoint's weights (relative to the prefixes given) and its flags."""

    model_types: tuple[str, ...]
    body: str  # prefix of the embeddings, layers and final norm
    layers: str
    word: str
    position: str | None
    final_norm: str
    attention_norm: str
    feed_forward_norm: str
    query: str  # with fused_qkv: the fused projection
    key: str | None
    value: str | None
    attention_output: str
    gate: str | None
    up: str
    down: str
    fused_qkv: bool = False  # GPT-2's c_attn holds q, k and v side by side
    conv1d: bool = False  # GPT-2's Conv1D stores weights as [in, out]
    rms_norm: bool = False
    rotary: bool = False
    activation_key: str = "hidden_act"
    norm_eps_key: str = "rms_norm_eps"


GPT2 = DecoderAdapter(
    model_types=("gpt2",),
    body="transformer",
    layers="h",
    word="wte",
    position="wpe",
    final_norm="ln_f",
    attention_norm="ln_1",
    feed_forward_norm="ln_2",
    query="attn.c_attn",
    key=None,
    value=None,
    attention_output="attn.c_proj",
    gate=None,
    up="mlp.c_fc",
    down="mlp.c_proj",
    fused_qkv=True,
    conv1d=True,
    activation_key="activation_function",
    norm_eps_key="layer_norm_epsilon",
)
LLAMA = DecoderAdapter(
    model_types=("llama", "qwen2", "mistral"),
    body="model",
    layers="layers",
    word="embed_tokens",
    position=None,
    final_norm="norm",
    attention_norm="input_layernorm",
    feed_forward_norm="post_attention_layernorm",
    query="self_attn.q_proj",
    key="self_attn.k_proj",
    value="self_attn.v_proj",
    attention_output="self_attn.o_proj",
    gate="mlp.gate_proj",
    up="mlp.up_proj",
    down="mlp.down_proj",
    rms_norm=True,
    rotary=True,
)

DECODER_ADAPTERS: tuple[DecoderAdapter, ...] = (GPT2, LLAMA)
# The weight that maps the last hidden state to the logits, per task.
HEADS = {"sequence-classification": "score", "causal-lm": "lm_head"}


def decoder_model_types() -> list[str]:
    return sorted(t for adapter in DECODER_ADAPTERS for t in adapter.model_types)


def decoder_adapter_for(model_type: str) -> DecoderAdapter | None:
    return next((a for a in DECODER_ADAPTERS if model_type in a.model_types), None)


def check_supported_config(model_type: str, config: Any) -> None:
    """Reject the variants the canonical decoder does not compute, with the setting to blame."""
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise UserError(
            f"{model_type} with rope_type {rope.get('rope_type')!r} is not supported; onnxplain computes the "
            "default rotary embedding only"
        )
    if getattr(config, "scale_attn_by_inverse_layer_idx", False) or getattr(config, "reorder_and_upcast_attn", False):
        raise UserError("GPT-2 with scale_attn_by_inverse_layer_idx or reorder_and_upcast_attn is not supported")
    if getattr(config, "use_sliding_window", False):
        raise UserError(f"{model_type} with use_sliding_window is not supported; onnxplain uses full causal attention")


def read_decoder_weights(model_type: str, config: Any, state: dict[str, Tensor], task: str) -> DecoderWeights:
    """Pick the canonical decoder's weights out of a sequence-classification or causal-LM state dict."""
    adapter = decoder_adapter_for(model_type)
    if adapter is None:
        raise UserError(f"model type {model_type!r} is not a supported decoder ({', '.join(decoder_model_types())})")
    check_supported_config(model_type, config)
    hidden = int(config.hidden_size)
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    read = StateReader(
        state, f"a {model_type} {task} model", float(getattr(config, adapter.norm_eps_key)), transposed=adapter.conv1d
    )

    def attention(prefix: str) -> SelfAttention:
        output = read.linear(f"{prefix}.{adapter.attention_output}")
        if not adapter.fused_qkv:
            assert adapter.key is not None and adapter.value is not None
            return SelfAttention(
                query=read.linear(f"{prefix}.{adapter.query}"),
                key=read.linear(f"{prefix}.{adapter.key}"),
                value=read.linear(f"{prefix}.{adapter.value}"),
                output=output,
            )
        fused = read.linear(f"{prefix}.{adapter.query}")
        weights = fused.weight.split(hidden, dim=0)
        biases = fused.bias.split(hidden) if fused.bias is not None else (None, None, None)
        q, k, v = (Linear(w.contiguous(), b) for w, b in zip(weights, biases, strict=True))
        return SelfAttention(query=q, key=k, value=v, output=output)

    def layer(i: int) -> DecoderLayer:
        p = f"{adapter.body}.{adapter.layers}.{i}"
        return DecoderLayer(
            attention=attention(p),
            attention_norm=read.norm(f"{p}.{adapter.attention_norm}"),
            feed_forward_norm=read.norm(f"{p}.{adapter.feed_forward_norm}"),
            gate=read.linear(f"{p}.{adapter.gate}") if adapter.gate else None,
            up=read.linear(f"{p}.{adapter.up}"),
            down=read.linear(f"{p}.{adapter.down}"),
        )

    word_embeddings = read.tensor(f"{adapter.body}.{adapter.word}.weight")
    head_name = HEADS[task]
    # a language model's head may be tied to the word embeddings and stored once; a head is never Conv1D
    head = (
        Linear(word_embeddings, None)
        if not read.has(f"{head_name}.weight")
        else Linear(read.tensor(f"{head_name}.weight"), read.optional(f"{head_name}.bias"))
    )
    rope = getattr(config, "rope_parameters", None) or {}
    pad = getattr(config, "pad_token_id", None)
    return DecoderWeights(
        architecture=adapter.model_types[0],
        num_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        activation=str(getattr(config, adapter.activation_key)),
        pad_token_id=int(pad) if pad is not None else 0,
        rms_norm=adapter.rms_norm,
        word_embeddings=word_embeddings,
        position_embeddings=read.tensor(f"{adapter.body}.{adapter.position}.weight") if adapter.position else None,
        rotary_base=float(rope.get("rope_theta", 10000.0)) if adapter.rotary else None,
        layers=tuple(layer(i) for i in range(int(config.num_hidden_layers))),
        final_norm=read.norm(f"{adapter.body}.{adapter.final_norm}"),
        head=head,
    )
