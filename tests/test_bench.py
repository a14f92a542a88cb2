"""``onnxplain bench``: the interleaved timer, the benchmark inputs, and one small run of the whole command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from onnxplain.bench.inputs import benchmark_batch
from onnxplain.bench.onnx_candidates import load_explainer, onnx_candidates
from onnxplain.bench.timing import interleaved
from onnxplain.cli import main
from onnxplain.runtime.artifact import read_manifest


def test_interleaved_runs_every_candidate_in_turn_and_gives_slow_ones_fewer_rounds() -> None:
    calls: list[str] = []

    def candidate(name: str, seconds: float):
        def call() -> None:
            calls.append(name)
            time.sleep(seconds)

        return call

    timings = interleaved({"fast": candidate("fast", 0.001), "slow": candidate("slow", 0.05)}, rounds=5, budget_s=0.1)
    assert len(timings["fast"].rounds) == 5
    assert 1 <= len(timings["slow"].rounds) <= 2  # 0.1 s budget / 0.05 s per call
    assert calls[:4] == ["fast", "slow", "fast", "slow"]  # warm-up, then rounds alternate
    assert timings["slow"].median > timings["fast"].median


def test_interleaved_never_reports_the_warm_up_call() -> None:
    """A first call that builds a session (slower than the budget) is not the measurement: one more call is."""
    calls = 0

    def builds_then_runs() -> None:
        nonlocal calls
        calls += 1
        time.sleep(0.2 if calls == 1 else 0.001)

    timings = interleaved({"method": builds_then_runs}, rounds=5, budget_s=0.01)
    assert calls == 2 and len(timings["method"].rounds) == 1
    assert timings["method"].median < 0.1


def test_benchmark_batch_is_real_text_of_exactly_the_asked_length(tiny_model_dir: Path) -> None:
    batch = benchmark_batch(tiny_model_dir, 3, 40)
    assert batch.shape == (3, 40)
    assert (batch.attention_mask == 1).all()
    assert (batch.input_ids[:, 0] == 101).all() and (batch.input_ids[:, -1] == 102).all()  # [CLS] ... [SEP]
    assert len({tuple(row) for row in batch.input_ids}) == 3  # different texts
    assert not np.isin(batch.input_ids[:, 1:-1], (0, 100, 101, 102)).any()  # no padding, unknown or special


def test_bench_command_reports_ratios_speedups_and_memory(
    tiny_artifact: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("ONNXPLAIN_CACHE", str(tmp_path / "cache"))  # where the standard forward is built
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            str(tiny_artifact),
            "--batch-sizes", "1,2",
            "--lengths", "16",
            "--methods", "attnlrp,mask-lrp",
            "--rounds", "2",
            "--budget", "0.5",
            "--json", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert [(c["batch"], c["length"]) for c in report["cells"]] == [(1, 16), (2, 16)]
    for cell in report["cells"]:
        rows = {row["method"]: row for row in cell["rows"]}
        assert list(rows) == ["standard-forward", "forward", "attnlrp", "mask-lrp"]
        assert rows["forward"]["ratio_to_forward"] == 1.0 and rows["standard-forward"]["ratio_to_standard"] == 1.0
        for method in ("attnlrp", "mask-lrp"):
            row = rows[method]
            assert row["ratio_to_forward"] == row["onnx_s"] / rows["forward"]["onnx_s"]
            assert row["ratio_to_standard"] == row["onnx_s"] / rows["standard-forward"]["onnx_s"]
            assert row["speedup_over_eager"] > 0 and row["speedup_over_integrated_gradients"] > 0
            assert row["explanations_per_s"] == cell["batch"] / row["onnx_s"]
        assert len(cell["integrated_gradients"]["rounds_s"]) >= 1
    assert {(m["method"], m["length"]) for m in report["memory"]} == {("attnlrp", 16), ("mask-lrp", 16)}
    assert all(m["call_peak_bytes"] >= 0 for m in report["memory"])
    assert report["artifact_bytes"] > 0 and report["process_peak_rss_bytes"] > 0
    assert Path(report["standard_forward"]).is_file()
    printed = capsys.readouterr().out
    assert "batch 2 x 16 tokens" in printed and "mask-lrp" in printed and "x standard" in printed


def test_bench_keeps_a_session_per_candidate_so_rounds_never_rebuild_one(tiny_artifact: Path) -> None:
    methods = list(read_manifest(tiny_artifact).methods)
    explainer = load_explainer(tiny_artifact, "cpu", 1, len(methods))
    batch = benchmark_batch(tiny_artifact, 2, 12)
    candidates = onnx_candidates(explainer, methods, batch)
    built = []
    original = explainer._sessions._build
    explainer._sessions._build = lambda outputs: built.append(outputs) or original(outputs)  # type: ignore[method-assign]
    for call in candidates.values():
        call()
    after_first_round = len(built)
    for call in candidates.values():
        call()
    assert len(built) == after_first_round


def test_standard_forward_is_the_hugging_face_model_fused_by_onnx_runtime(tiny_model_dir: Path, tmp_path: Path) -> None:
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification

    from onnxplain.bench.standard_forward import standard_forward

    batch = benchmark_batch(tiny_model_dir, 2, 14)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)).logits.numpy()
    for precision, tolerance in (("fp32", 1e-4), ("int8", 0.1)):
        built = standard_forward(tiny_model_dir, precision, cache=tmp_path, progress=lambda _: None)
        session = ort.InferenceSession(str(built.path), providers=["CPUExecutionProvider"])
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        feeds["token_type_ids"] = np.zeros_like(batch.input_ids)
        (logits,) = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})
        assert np.abs(logits - expected).max() <= tolerance * max(1.0, float(np.abs(expected).max()))
    assert built.fused.get("Attention", 0) == model.config.num_hidden_layers  # the optimiser fused attention
    assert built.fused.get("SkipLayerNormalization", 0) > 0
