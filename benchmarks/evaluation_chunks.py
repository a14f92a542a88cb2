"""Processor time of ``onnxplain evaluate``'s forward-only perturbation passes by call size and thread count:
the copies that evaluate builds (every protocol and ERASER operator, under a few seeded random rankings) of the
first texts of a data file, scored by ``log_probabilities`` under each setting, interleaved, median of the
repeats. Prints wall and processor seconds and each setting's processor time relative to the first.

    python benchmarks/evaluation_chunks.py ARTIFACT --data heldout.csv \
        --settings 1:256:8192,1:64:2048,1:32:1024,1:16:512 --texts 12 --sequences 500

A setting is THREADS:SEQUENCES:TOKENS (intra-op threads, --forward-batch-size, --forward-tokens). On a machine
that others share, compare processor time: wall time follows their load.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from onnxplain.evaluation.data import read_labelled_texts
from onnxplain.evaluation.encoding import select_texts
from onnxplain.evaluation.faithfulness import DistinctSequences, log_probabilities, ranking_copies
from onnxplain.evaluation.floor import random_relevance
from onnxplain.evaluation.perturbation import removal_order
from onnxplain.evaluation.protocols import PROTOCOLS, Operators, mask_token_id, operators_of
from onnxplain.runtime import Explainer
from onnxplain.runtime.artifact import TOKENIZER_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--settings", default="1:256:8192,1:64:2048,1:32:1024,1:16:512")
    parser.add_argument("--texts", type=int, default=12, help="first texts of the file (of 20 tokens or more)")
    parser.add_argument("--rankings", type=int, default=3, help="seeded random rankings per text")
    parser.add_argument("--sequences", type=int, default=500, help="score the first N distinct copies")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-budget", help="as evaluate's (default: the machine's); 'unlimited' for none")
    args = parser.parse_args()
    settings = [tuple(int(x) for x in s.split(":")) for s in args.settings.split(",")]
    explainers = {
        threads: Explainer.load(args.artifact, intra_op_threads=threads, memory_budget=args.memory_budget)
        for threads in sorted({s[0] for s in settings})
    }
    explainer = next(iter(explainers.values()))
    examples = read_labelled_texts(args.data, explainer.manifest)
    texts = select_texts(examples, explainer.tokenize([e.text for e in examples])).texts[: args.texts]
    ops = Operators(explainer.manifest.pad_token_id, mask_token_id(explainer.directory / TOKENIZER_FILE))
    protocols = list(PROTOCOLS.values())
    operators = operators_of(protocols)
    distinct = DistinctSequences()
    for text in texts:
        for seed in range(args.rankings):
            order = removal_order(random_relevance(len(text.input_ids), seed, text.source_index), text.special_tokens)
            for _, _, copies in ranking_copies(text.input_ids, order, protocols, operators, ops):
                distinct.add(copies)
    sequences = distinct.sequences[: args.sequences]
    tokens = sum(len(s) for s in sequences)
    mean = tokens / len(sequences)
    print(f"{len(sequences)} distinct copies of {len(texts)} texts, {tokens:,} tokens (mean {mean:.1f})")
    for loaded in explainers.values():  # build the forward-only sessions before timing
        log_probabilities(loaded, sequences[:50], 256, 8192)
    wall: dict[tuple[int, ...], list[float]] = {s: [] for s in settings}
    cpu: dict[tuple[int, ...], list[float]] = {s: [] for s in settings}
    for _ in range(args.repeats):
        for setting in settings:
            threads, max_sequences, max_tokens = setting
            began, cpu_began = time.perf_counter(), time.process_time()
            log_probabilities(explainers[threads], sequences, max_sequences, max_tokens)
            wall[setting].append(time.perf_counter() - began)
            cpu[setting].append(time.process_time() - cpu_began)
    first = statistics.median(cpu[settings[0]])
    print("| threads | sequences/call | tokens/call | wall s | processor s | copies per processor-s | vs first |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for setting in settings:
        w, c = statistics.median(wall[setting]), statistics.median(cpu[setting])
        threads, max_sequences, max_tokens = setting
        rate = len(sequences) / c
        print(f"| {threads} | {max_sequences} | {max_tokens} | {w:.2f} | {c:.2f} | {rate:.0f} | {c / first:.2f}x |")


if __name__ == "__main__":
    main()
