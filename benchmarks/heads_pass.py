"""Time the calibration corpus pass of ``onnxplain heads``: parsing, then the batched attention pass.

    python benchmarks/heads_pass.py MODEL_DIR CORPUS [--text-column N] [--threads N] [--batch-size N]

Prints the wall and CPU seconds of each phase and the throughput; run it on an otherwise idle machine
(on a shared one, OpenMP threads that wait for each other inflate the attention pass several times).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("corpus")
    parser.add_argument("--text-column", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    import torch

    from onnxplain.calibration.attention_pass import collect_head_statistics
    from onnxplain.calibration.calibrate import load_model
    from onnxplain.calibration.corpus import read_corpus
    from onnxplain.calibration.dependencies import load_parser, parse_arcs

    if args.threads:
        torch.set_num_threads(args.threads)
    texts = read_corpus(args.corpus, text_column=args.text_column, limit=args.limit)
    model, tokenizer = load_model(args.model_dir)
    parser_model = load_parser()

    wall, cpu = time.perf_counter(), time.process_time()
    arcs = list(parse_arcs(texts, parser_model, progress=False))
    parse_wall, parse_cpu = time.perf_counter() - wall, time.process_time() - cpu

    wall, cpu = time.perf_counter(), time.process_time()
    statistics = collect_head_statistics(model, tokenizer, texts, arcs, batch_size=args.batch_size, progress=False)
    pass_wall, pass_cpu = time.perf_counter() - wall, time.process_time() - cpu

    threads = torch.get_num_threads()
    print(f"sentences {len(texts)}, counted tokens {statistics.positional_rows}, torch threads {threads}")
    for phase, seconds, cpu_seconds in (
        ("parse", parse_wall, parse_cpu),
        ("attention pass", pass_wall, pass_cpu),
    ):
        rate = len(texts) / seconds
        print(f"{phase + ':':15} {seconds:6.1f} s wall {cpu_seconds:6.1f} s CPU {rate:7.0f} sentences/s")
    print(f"total:          {parse_wall + pass_wall:6.1f} s wall (load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
