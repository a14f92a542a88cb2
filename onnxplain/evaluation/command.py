"""``onnxplain evaluate ARTIFACT --data FILE --out DIR``: faithfulness of every method of an artifact on a
labelled data set under several perturbation protocols (SPEC section 4's and its variants), against a seeded
random floor and a reference method, with Mask-LRP's head-mask ablation, through the runtime alone."""

from __future__ import annotations

import argparse
from pathlib import Path

from onnxplain.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifact", type=Path, help="artifact directory written by `onnxplain export`")
    parser.add_argument("--data", type=Path, required=True, help="labelled texts: .csv, .tsv or .jsonl")
    parser.add_argument(
        "--out", type=Path, required=True, help="directory for results.md/.json/.html, curves.png, curves.npz"
    )
    parser.add_argument("--methods", help="comma-separated methods to evaluate (default: every method of the artifact)")
    parser.add_argument(
        "--protocols",
        help="comma-separated perturbation protocols among pad, mask, delete, lerf (default: all of them)",
    )
    parser.add_argument(
        "--reference",
        help="method every other is compared with, paired (default: the best baseline on the first protocol)",
    )
    parser.add_argument("--limit", type=int, help="read only the first N texts of the data file (after --skip)")
    parser.add_argument(
        "--skip", type=int, default=0, help="skip the first N texts of the data file (with --limit: evaluate a part)"
    )
    parser.add_argument(
        "--text-column", default="text", help="text column or key; 0-based index for a CSV/TSV without a header row"
    )
    parser.add_argument(
        "--label-column",
        default="label",
        help="label column or key (0-based index without a header row); its values: label names or indices",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="texts explained per runtime call")
    parser.add_argument("--forward-batch-size", type=int, default=256, help="perturbed sequences per forward-only call")
    parser.add_argument(
        "--forward-tokens",
        type=int,
        help="at most this many padded tokens per forward-only call (default 1024: smaller calls stay in the "
        "processor's caches)",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap, the random ranking, the random head masks and texts"
    )
    parser.add_argument("--min-tokens", type=int, default=20, help="skip texts with fewer tokens")
    parser.add_argument("--random-masks", type=int, default=5, help="random head masks in the ablation")
    parser.add_argument("--no-ablation", action="store_true", help="skip Mask-LRP's head-mask ablation")
    parser.add_argument(
        "--page-texts", type=int, default=8, help="texts of most disagreement shown side by side in results.html"
    )
    parser.add_argument(
        "--page-random-texts", type=int, default=4, help="texts drawn at random (seeded) shown in results.html"
    )
    parser.add_argument(
        "--answer-top",
        type=int,
        default=20,
        help="question answering artifacts: count gold answer tokens among this many most relevant (default 20)",
    )
    parser.add_argument(
        "--curves",
        type=Path,
        nargs="+",
        metavar="NPZ",
        help="score curves.npz files of earlier runs instead of computing: runs on the same texts are merged "
        "(different methods), runs on disjoint parts of --data are pooled in the order given (same methods); "
        "all made with this artifact",
    )
    parser.add_argument(
        "--memory-budget",
        help="memory the runtime calls may use beyond the loaded model, such as 2GiB (calls are split to fit; "
        "default: from the container's or machine's memory)",
    )
    parser.add_argument(
        "--threads", type=int, help="ONNX Runtime intra-op threads (default: one per core; 1 on a shared machine)"
    )
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="compute the curves in this process (default) or on Ray Data actors (--actors, --ray-address)",
    )
    parser.add_argument("--actors", type=int, default=2, help="--engine ray: actors, one ONNX Runtime session each")
    parser.add_argument("--ray-address", help="--engine ray: join this Ray cluster (default: start a local one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from onnxplain.evaluation.ablation import MASKED_METHOD, ablation_variants
    from onnxplain.evaluation.data import read_labelled_texts
    from onnxplain.evaluation.encoding import select_texts
    from onnxplain.evaluation.faithfulness import FORWARD_TOKENS, Variant, perturbation_curves
    from onnxplain.evaluation.floor import RANDOM
    from onnxplain.evaluation.protocols import PROTOCOLS, choose_protocols, mask_token_id
    from onnxplain.evaluation.saved import saved_curves
    from onnxplain.evaluation.summary import Run, write_evaluation
    from onnxplain.runtime import Explainer
    from onnxplain.runtime.artifact import MODEL_FILE, TOKENIZER_FILE

    numbers = (
        "limit",
        "batch_size",
        "forward_batch_size",
        "forward_tokens",
        "bootstrap",
        "min_tokens",
        "threads",
        "actors",
    )
    for name in numbers:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be a positive number, not {value}; fix it")
    for name in ("skip", "random_masks", "page_texts", "page_random_texts"):
        if getattr(args, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be 0 or more, not {getattr(args, name)}; fix it")
    if args.answer_top < 1:
        raise UserError(f"--answer-top must be a positive number, not {args.answer_top}; fix it")

    started = time.perf_counter()
    explainer = Explainer.load(args.artifact, intra_op_threads=args.threads, memory_budget=args.memory_budget)
    manifest = explainer.manifest
    available = list(manifest.methods)  # in the order reports list them
    methods = available if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in manifest.methods]
    if unknown or not methods:
        raise UserError(
            f"the artifact has no method {', '.join(unknown) or '(none given)'}; choose among "
            f"{', '.join(available)} in --methods"
        )

    if explainer.task.evaluation == "answer-tokens":  # AOPC needs classes: question answering has its own metric
        return evaluate_question_answering(args, explainer, methods)

    mask_token = mask_token_id(explainer.directory / TOKENIZER_FILE)
    protocols, notes = choose_protocols(args.protocols, mask_token)
    if not args.curves:
        check_reference(args.reference, methods)
    examples = read_labelled_texts(args.data, manifest, text_column=args.text_column, label_column=args.label_column)
    examples = examples[args.skip : None if args.limit is None else args.skip + args.limit]
    if not examples:
        raise UserError(f"--skip {args.skip} leaves no text of {args.data}; skip fewer")
    encoded = select_texts(
        examples, explainer.tokenize([e.text for e in examples]), min_tokens=args.min_tokens, first_index=args.skip
    )
    if not encoded.texts:
        raise UserError(
            f"none of the {len(examples)} texts has {args.min_tokens} tokens or more; "
            "pass longer texts or a smaller --min-tokens"
        )

    model_record = manifest.files.get(MODEL_FILE)  # absent from artifacts of format 2
    model_sha256 = model_record.sha256 if model_record is not None else None
    if args.curves:
        curves = saved_curves(args.curves, encoded, model_sha256)
        if args.methods is None:
            methods = [m for m in available if m in curves.variants()]
        if args.protocols is None:
            protocols = [PROTOCOLS[name] for name in curves.steps]
        missing = [m for m in methods if m not in curves.variants()] + [
            p.name for p in protocols if p.name not in curves.steps
        ]
        if missing:
            raise UserError(f"the saved curves hold no {', '.join(missing)}; leave it out or evaluate it")
        curves.steps = {p.name: curves.steps[p.name] for p in protocols}
        variants = [Variant(name, name if name in manifest.methods else None) for name in curves.variants()]
        notes.append(f"curves read from {', '.join(str(p) for p in args.curves)}; the timings are those runs'")
    else:
        variants = [Variant(m, m) for m in methods] + [Variant(RANDOM, None)]
        if MASKED_METHOD in methods and not args.no_ablation:
            variants += ablation_variants(manifest, random_masks=args.random_masks, seed=args.seed)
    check_reference(args.reference, methods)
    heads_kept = heads_kept_of(manifest, [v.name for v in variants], args.seed)

    if not args.curves:
        curve_options = {
            "mask_token_id": mask_token,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "forward_batch_size": args.forward_batch_size,
            "forward_tokens": args.forward_tokens or FORWARD_TOKENS,
        }
        with tqdm(total=len(encoded.texts), unit="text", disable=args.quiet, desc="evaluate") as bar:
            if args.engine == "ray":
                loaded = explainer.memory.loaded_bytes
                curves = curves_on_ray_session(
                    args, encoded.texts, variants, protocols, bar.update, curve_options, loaded
                )
            else:
                curves = perturbation_curves(
                    explainer, encoded.texts, variants, protocols, progress=bar.update, **curve_options
                )
        curves.model_sha256 = model_sha256
    run_facts = Run(
        artifact=str(args.artifact),
        data=str(args.data),
        texts_read=len(examples),
        min_tokens=args.min_tokens,
        resamples=args.bootstrap,
        seed=args.seed,
        methods=methods,
        reference=args.reference,
        heads_kept=heads_kept,
        notes=notes,
        page_texts=args.page_texts,
        page_random_texts=args.page_random_texts,
    )
    descriptions = {name: record.description for name, record in manifest.methods.items()}
    seconds = time.perf_counter() - started
    paths = write_evaluation(args.out, run_facts, encoded, curves, explainer.labels, seconds, descriptions)
    print(paths[0].read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def curves_on_ray_session(
    args: argparse.Namespace, texts, variants, protocols, progress, curve_options, loaded_bytes: int = 0
):
    """The curves on Ray Data: ``--actors`` actors of ``--threads`` threads each (default: cores / actors), on
    the cluster at ``--ray-address`` or one started here for this run. On a cluster started here, with no
    ``--memory-budget``, the actors share this machine's default budget (each would otherwise take all of it,
    as if alone); ``loaded_bytes``: the model's resident size, which each actor and this process hold."""
    import os

    import ray

    from onnxplain.bulk.engines import connect_ray
    from onnxplain.evaluation.engines import curves_on_ray
    from onnxplain.runtime.memory_budget import default_budget

    started_here = not ray.is_initialized() and not args.ray_address
    connect_ray(args.ray_address, args.actors)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.actors)
    budget = args.memory_budget
    if budget is None and started_here:
        budget = default_budget(loaded_bytes, processes=args.actors + 1).bytes  # the actors and this process
    load_options = {"intra_op_threads": threads, "memory_budget": budget}
    try:
        return curves_on_ray(
            args.artifact.resolve(),
            load_options,
            texts,
            variants,
            protocols,
            actors=args.actors,
            progress=progress,
            **curve_options,
        )
    finally:
        if started_here:
            ray.shutdown()


def check_reference(reference: str | None, methods: list[str]) -> None:
    from onnxplain.evaluation.floor import RANDOM

    if reference is not None and reference not in [*methods, RANDOM]:
        raise UserError(
            f"--reference {reference} is not among the evaluated methods; choose one of {', '.join(methods)}"
        )


def heads_kept_of(manifest, names: list[str], seed: int) -> dict[str, int]:
    """Heads kept by Mask-LRP, TransAtt and each ablation variant among ``names``."""
    from onnxplain.evaluation.ablation import MASKED_METHOD, ablation_variants, default_head_mask
    from onnxplain.evaluation.report import TRANSATT

    if MASKED_METHOD not in names:
        return {}
    heads = {MASKED_METHOD: int(default_head_mask(manifest).sum()), TRANSATT: manifest.num_layers * manifest.num_heads}
    randoms = sum(":random-" in name for name in names)
    for variant in ablation_variants(manifest, random_masks=randoms, seed=seed):
        if variant.name in names and variant.head_mask is not None:
            heads[variant.name] = int(variant.head_mask.sum())
    return heads


def evaluate_question_answering(args: argparse.Namespace, explainer, methods: list[str]) -> int:
    """The answer-token metric (``answer_tokens``) of a question answering artifact, to results.md/.json."""
    import json

    from onnxplain.evaluation.answer_tokens import evaluate_answer_tokens, read_answer_examples

    examples = read_answer_examples(args.data)[: args.limit]
    scores = evaluate_answer_tokens(explainer, examples, methods, top=args.answer_top)
    args.out.mkdir(parents=True, exist_ok=True)
    markdown, data = args.out / "results.md", args.out / "results.json"
    markdown.write_text(scores.to_markdown(), encoding="utf-8")
    data.write_text(json.dumps(scores.to_json(), indent=2) + "\n", encoding="utf-8")
    print(markdown.read_text(encoding="utf-8"))
    print(f"wrote {markdown}, {data}")
    return 0
