"""Every explanation method, defined once: its name, rule set, whether it reads the head mask, its export
check tolerance, one line for the docs and the manifest, and how its relevance is computed from the passes.

The export reads its records to compute and check each method and writes them into the manifest, from which
the runtime, the JavaScript client and any other consumer read them; the command line's help and the docs'
methods table come from here too (``tests/test_docs_tables.py`` keeps the table in step).

Adding a method: write its ``relevance`` function here (from the passes of ``passes.py`` and the arithmetic
of ``methods.py``), add its ``Method`` to ``REGISTRY``, and test it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from onnxplain.errors import UserError
from onnxplain.export.methods import (
    attcat,
    attention_gradcam,
    backward,
    chefer_rollout,
    explained_row,
    lookahead_relevance,
    pad_reference_relevance,
    removable_tokens,
    rollout_row,
)
from onnxplain.export.passes import SeedPasses
from onnxplain.runtime.artifact import MethodRecord, relevance_output_name

# Export check tolerance classes (relative to each output's scale; see ``verify.check_against_eager``).
# Chefer's rules divide by sums that can cancel (attention scores near 0, residual branches of opposite
# sign), which amplifies float32 rounding between PyTorch's and ONNX Runtime's kernels to about 1e-3 (more
# on deeper models); the gradient-based methods agree to about 1e-6.
TOLERANCES = {"gradient": 1e-3, "division": 3e-2}
# ``cp-lrp-lookahead``: after each ``cp-lrp-pad`` pass this share of the removable tokens is replaced by the
# pad token before the next (chosen on a validation slice of the training split, benchmarks/beyond_mask_lrp.py).
LOOKAHEAD_FRACTIONS = (1 / 9, 2 / 9)


@dataclass(frozen=True)
class Method:
    name: str
    rule_set: str  # one of ``onnxplain.runtime.artifact.RULE_SETS``
    reads_head_mask: bool
    tolerance: str  # a key of ``TOLERANCES``
    description: str  # one line
    relevance: Callable[[SeedPasses], Tensor]  # [B, T] for one explained logit; padding is zeroed afterwards

    @property
    def output(self) -> str:
        return relevance_output_name(self.name)

    def record(self) -> MethodRecord:
        """What the manifest says about this method."""
        return MethodRecord(self.name, self.output, self.rule_set, self.reads_head_mask, self.description)


def raw_attention(p: SeedPasses) -> Tensor:
    plain = p.plain
    return explained_row(plain, plain.attentions[-1].mean(dim=1), p.seed.position)


def attention_rollout(p: SeedPasses) -> Tensor:
    plain = p.plain
    return rollout_row([a.mean(dim=1) for a in plain.attentions], p.seed.position, plain.explained_rows_only)


def gradient_times_word_embedding(p: SeedPasses) -> Tensor:
    """On the word embeddings: on the summed embedding it is identically 0, since the embedding LayerNorm
    is scale-invariant per token (x . dLN(x)/dx = 0)."""
    return (p.gradients().embeddings * p.plain.word_embeddings).sum(dim=-1)


def gradcam(p: SeedPasses) -> Tensor:
    return attention_gradcam(p.plain, p.gradients().attentions[-1], p.passes.token_mask, p.seed.position)


def attention_weighted_gradient_times_state(p: SeedPasses) -> Tensor:
    return attcat(p.plain, p.gradients().hidden_states, p.passes.token_mask)


def chefer_attention_rollout(head_masked: bool) -> Callable[[SeedPasses], Tensor]:
    """TransAtt (``head_masked`` False) and Mask-LRP (True): SPEC 2.2 steps 5-7."""

    def relevance(p: SeedPasses) -> Tensor:
        gradients = p.gradients()
        # Each layer of Chefer's pass waits for the gradient at that layer's input, so that the gradient's
        # attention rules have run (and their [B, H, T, T] temporaries gone) before Chefer's start. Full and
        # partial LRP read an unpaced Chefer pass, which must not wait for a gradient pass they do not need:
        # a graph that computes TransAtt and one of them runs Chefer's pass twice (once paced).
        lrp = p.chefer(head_masked, paced_by=(gradients.embeddings, *gradients.hidden_states[:-1]))
        return chefer_rollout(gradients.attentions, lrp.attentions, p.seed.position, lrp.trace.explained_rows_only)

    return relevance


def full_lrp(p: SeedPasses) -> Tensor:
    return p.chefer(False).embeddings.sum(dim=-1)


def partial_lrp(p: SeedPasses) -> Tensor:
    lrp = p.chefer(False)
    return explained_row(lrp.trace, lrp.attentions[-1].clamp(min=0).mean(dim=1), p.seed.position)


def gradient_times_input(rule_set: str, head_masked: bool) -> Callable[[SeedPasses], Tensor]:
    """A rule set's modified gradient at the summed embeddings times the embeddings, summed over features."""

    def relevance(p: SeedPasses) -> Tensor:
        trace = p.passes.trace(rule_set, head_masked)
        (gradient,) = backward(trace, p.seed.gradient, [trace.embeddings])
        return (gradient * trace.embeddings).sum(dim=-1)

    return relevance


def cp_lrp_pad(p: SeedPasses) -> Tensor:
    def compute() -> Tensor:
        passes = p.passes
        trace = passes.trace("cp-lrp")
        return pad_reference_relevance(trace, p.seed.gradient, passes.pad_embedding, passes.token_mask)

    return p.memo("cp-lrp-pad", compute)


def cp_lrp_lookahead(p: SeedPasses) -> Tensor:
    passes = p.passes
    removable = removable_tokens(passes.input_ids, passes.token_mask, p.seed.position, passes.special_token_ids)
    return lookahead_relevance(
        lambda ids: passes.rerun("cp-lrp", ids),
        cp_lrp_pad(p),
        passes.input_ids,
        p.seed.gradient,
        passes.pad_embedding,
        passes.pad_token_id,
        passes.token_mask,
        removable,
        LOOKAHEAD_FRACTIONS,
    )


# In the order reports list them; the paper's method first, and the default where an export has it.
REGISTRY: tuple[Method, ...] = (
    Method(
        "mask-lrp",
        "chefer",
        True,
        "division",
        "Mask-LRP (Song et al. 2024): TransAtt in which the relevance arriving at each head's context is "
        "multiplied by the head mask before it splits between attention and values, so masked heads pass no "
        "relevance down; the stored attention relevance comes from the unmasked context relevance, before the "
        "product rule's halving, as the reference code does",
        chefer_attention_rollout(head_masked=True),
    ),
    Method(
        "transatt",
        "chefer",
        False,
        "division",
        "Transformer Attribution (Chefer et al. 2021): per layer mean_h max(0, grad(A) * R(A)), rolled out with "
        "the identity, the explained position's row with its own entry zeroed; the head mask is ignored",
        chefer_attention_rollout(head_masked=False),
    ),
    Method(
        "attnlrp",
        "attnlrp",
        False,
        "gradient",
        "AttnLRP (Achtibat et al. 2024) as gradient x input on a modified graph: norm scale constant, identity "
        "rule on activations, uniform rule on both attention products",
        gradient_times_input("attnlrp", head_masked=False),
    ),
    Method(
        "mask-attnlrp",
        "attnlrp",
        True,
        "gradient",
        "AttnLRP with the gradient at each head's context scaled by the head mask",
        gradient_times_input("attnlrp", head_masked=True),
    ),
    Method(
        "cp-lrp",
        "cp-lrp",
        False,
        "gradient",
        "CP-LRP (Ali et al. 2022): norm scale and attention probabilities constant, identity rule on "
        "activations; conservative (sums to the target logit on a bias-free model)",
        gradient_times_input("cp-lrp", head_masked=False),
    ),
    Method(
        "mask-cp-lrp",
        "cp-lrp",
        True,
        "gradient",
        "CP-LRP with the gradient at each head's context scaled by the head mask",
        gradient_times_input("cp-lrp", head_masked=True),
    ),
    Method(
        "cp-lrp-pad",
        "cp-lrp",
        False,
        "gradient",
        "(beyond the paper) CP-LRP's gradient of the target's log-probability (for two labels: of the logit "
        "difference) times each token's word embedding minus the pad token's, the substitution the deletion "
        "evaluation makes; a pad token gets 0",
        cp_lrp_pad,
    ),
    Method(
        "cp-lrp-lookahead",
        "cp-lrp",
        False,
        "gradient",
        "(beyond the paper) cp-lrp-pad, then the top 1/9 of the removable tokens replaced by the pad token and "
        "the rest explained again, then the next 2/9: a greedy deletion order in three CP-LRP passes; tokens "
        "replaced earlier rank above later ones",
        cp_lrp_lookahead,
    ),
    Method(
        "grad-input",
        "gradient",
        False,
        "gradient",
        "gradient x input on the word embeddings (on the summed embedding it would be 0 for every token: the "
        "embedding LayerNorm is scale-invariant)",
        gradient_times_word_embedding,
    ),
    Method(
        "full-lrp",
        "chefer",
        False,
        "division",
        "Chefer's LRP pass carried to the input embeddings, summed over features (relevance starts as a one-hot "
        "on the target logit)",
        full_lrp,
    ),
    Method(
        "partial-lrp",
        "chefer",
        False,
        "division",
        "Partial LRP (Voita et al. 2019): the last layer's attention relevance, positive part, mean over heads, "
        "the explained position's row",
        partial_lrp,
    ),
    Method(
        "attcat",
        "gradient",
        False,
        "gradient",
        "AttCAT (Qiang et al. 2022): per layer, gradient x hidden state summed over features, weighted by the "
        "layer's attention averaged over heads and real query rows, summed over layers",
        attention_weighted_gradient_times_state,
    ),
    Method(
        "attention-gradcam",
        "gradient",
        False,
        "gradient",
        "the last layer's attention weighted per head by the mean of its gradient over real (query, key) pairs, "
        "positive part, the explained position's row",
        gradcam,
    ),
    Method(
        "rollout",
        "attention",
        False,
        "gradient",
        "attention rollout (Abnar & Zuidema 2020), the explained position's row",
        attention_rollout,
    ),
    Method(
        "raw-attention",
        "attention",
        False,
        "gradient",
        "the last layer's attention, mean over heads, the explained position's row",
        raw_attention,
    ),
)
METHODS: dict[str, Method] = {m.name: m for m in REGISTRY}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)


def resolve_methods(names: Sequence[str] | None) -> list[Method]:
    """The methods named (all when None or empty), in registry order without duplicates; one ``UserError``
    naming the unknown ones."""
    if not names:
        return list(REGISTRY)
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise UserError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHOD_NAMES)}")
    return [m for m in REGISTRY if m.name in names]


def tolerance(name: str) -> float:
    """The export check tolerance of a method's output (``logits``: the gradient class)."""
    return TOLERANCES[METHODS[name].tolerance] if name in METHODS else TOLERANCES["gradient"]
