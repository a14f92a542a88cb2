"""Where an ``onnxplain evaluate`` run's forward passes go: the distinct perturbed sequences (and their tokens)
that each protocol and ERASER's copies add, in the order evaluate builds them, recounted from the run's
``curves.npz`` (its relevance) without running the model. With the run's ``results.json`` it also prints
the processor time per group, at the run's measured tokens per processor-second.

    python benchmarks/evaluation_cost.py ARTIFACT --data heldout.csv --run eval/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from onnxplain.evaluation.data import read_labelled_texts
from onnxplain.evaluation.encoding import select_texts
from onnxplain.evaluation.faithfulness import STEPS, Curves, DistinctSequences, ranking_copies
from onnxplain.evaluation.perturbation import removal_order
from onnxplain.evaluation.protocols import PROTOCOLS, Operators, mask_token_id
from onnxplain.runtime import Explainer
from onnxplain.runtime.artifact import TOKENIZER_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True, help="the --out folder of the evaluate run")
    parser.add_argument("--batch-size", type=int, default=16, help="the run's --batch-size (de-duplication scope)")
    args = parser.parse_args()
    explainer = Explainer.load(args.artifact)
    curves = Curves.load(args.run / "curves.npz")
    examples = read_labelled_texts(args.data, explainer.manifest)
    encoded = select_texts(examples, explainer.tokenize([e.text for e in examples]))
    texts = [t for t in encoded.texts if t.source_index in set(curves.source_index.tolist())]
    ops = Operators(explainer.manifest.pad_token_id, mask_token_id(explainer.directory / TOKENIZER_FILE))
    protocols = [PROTOCOLS[name] for name in curves.steps]
    operators = list(curves.comprehensiveness)
    groups = ["original"] + [p.name for p in protocols] + [f"ERASER {o}" for o in operators]
    sequences = dict.fromkeys(groups, 0)
    tokens = dict.fromkeys(groups, 0)

    def add(distinct: DistinctSequences, group: str, copies: list) -> None:
        before = len(distinct.sequences)
        distinct.add(copies)
        sequences[group] += len(distinct.sequences) - before
        tokens[group] += sum(len(s) for s in distinct.sequences[before:])

    for start in range(0, len(texts), args.batch_size):
        distinct = DistinctSequences()
        for offset, text in enumerate(texts[start : start + args.batch_size]):
            add(distinct, "original", [text.input_ids])
            for values in curves.relevance.values():
                order = removal_order(values[start + offset], text.special_tokens)
                for group, key, copies in ranking_copies(text.input_ids, order, protocols, operators, ops):
                    add(distinct, key if group == STEPS else f"ERASER {key}", copies)
    rate = None
    results = args.run / "results.json"
    if results.exists() and "cpu_seconds" in (run := json.loads(results.read_text())):
        rate = run["forward_tokens"] / max(run["cpu_seconds"], 1e-9)
    total_sequences, total_tokens = sum(sequences.values()), sum(tokens.values())
    per = len(texts) * len(curves.relevance)
    print(f"{len(texts)} texts x {len(curves.relevance)} rankings; distinct sequences each group adds:")
    print(
        "| group | sequences | per text and ranking | tokens | share of tokens |" + (" processor s |" if rate else "")
    )
    print("|---|---:|---:|---:|---:|" + ("---:|" if rate else ""))
    for group in groups:
        line = (
            f"| {group} | {sequences[group]:,} | {sequences[group] / per:.1f} | {tokens[group]:,} | "
            f"{tokens[group] / total_tokens:.1%} |"
        )
        print(line + (f" {tokens[group] / rate:.0f} |" if rate else ""))
    print(f"| all | {total_sequences:,} | {total_sequences / per:.1f} | {total_tokens:,} | 100% |")
    if rate:
        print(f"(processor time at the run's {rate:,.0f} padded tokens per processor-second, explaining included)")


if __name__ == "__main__":
    main()
