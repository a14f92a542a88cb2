"""The benchmark's results: ratios computed from one run's medians, as JSON and as a readable table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onnxplain.bench.onnx_candidates import FORWARD, STANDARD
from onnxplain.bench.timing import Timing

MIB = 1024 * 1024


@dataclass
class Cell:
    """Every timing at one (batch, length): ONNX Runtime, the standard forward, eager PyTorch and Integrated
    Gradients."""

    batch: int
    length: int
    onnx: dict[str, Timing]
    eager: dict[str, Timing] = field(default_factory=dict)
    integrated_gradients: Timing | None = None
    standard: Timing | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One row per method (the standard forward and the forward graph first): seconds, ratios to the forward
        graph and to the standard forward, and explanations per second."""
        forward = self.onnx[FORWARD].median
        standard = None if self.standard is None else self.standard.median
        timed = ({STANDARD: self.standard} if self.standard is not None else {}) | self.onnx
        rows = []
        for name, timing in timed.items():
            row: dict[str, Any] = {
                "method": name,
                "onnx_s": timing.median,
                "ratio_to_forward": timing.median / forward,
                "explanations_per_s": self.batch / timing.median,
            }
            if standard is not None:
                row["ratio_to_standard"] = timing.median / standard
            if name in self.eager:
                row["eager_s"] = self.eager[name].median
                row["speedup_over_eager"] = self.eager[name].median / timing.median
            if self.integrated_gradients is not None and name not in (FORWARD, STANDARD):
                row["speedup_over_integrated_gradients"] = self.integrated_gradients.median / timing.median
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "length": self.length,
            "rows": self.rows(),
            "onnx": {name: t.to_json() for name, t in self.onnx.items()},
            "eager": {name: t.to_json() for name, t in self.eager.items()},
            "integrated_gradients": None if self.integrated_gradients is None else self.integrated_gradients.to_json(),
            "standard_forward": None if self.standard is None else self.standard.to_json(),
        }


@dataclass(frozen=True)
class MemoryRow:
    """Working memory of one call (bytes above the loaded session) of the forward and one explain graph."""

    method: str
    batch: int
    length: int
    call_peak_bytes: int
    forward_call_peak_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "batch": self.batch,
            "length": self.length,
            "call_peak_bytes": self.call_peak_bytes,
            "forward_call_peak_bytes": self.forward_call_peak_bytes,
            "ratio_to_forward": self.call_peak_bytes / max(self.forward_call_peak_bytes, 1),
        }


def milliseconds(seconds: float | None) -> str:
    return "" if seconds is None else f"{1000 * seconds:.1f}"


def times(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def cell_table(cell: Cell) -> str:
    header = f"batch {cell.batch} x {cell.length} tokens"
    if cell.integrated_gradients is not None:
        header += f"; Integrated Gradients (50 steps, Captum) {milliseconds(cell.integrated_gradients.median)} ms"
    columns = ("method", "onnx ms", "x standard", "x forward", "expl/s", "eager ms", "vs eager", "vs IG")
    lines = [header, "  " + f"{columns[0]:<18}" + "".join(f"{c:>11}" for c in columns[1:])]
    for row in cell.rows():
        values = (
            milliseconds(row["onnx_s"]),
            times(row.get("ratio_to_standard")),
            times(row["ratio_to_forward"]),
            f"{row['explanations_per_s']:.1f}",
            milliseconds(row.get("eager_s")),
            times(row.get("speedup_over_eager")),
            times(row.get("speedup_over_integrated_gradients")),
        )
        lines.append("  " + f"{row['method']:<18}" + "".join(f"{v:>11}" for v in values))
    return "\n".join(lines)


def memory_table(rows: list[MemoryRow]) -> str:
    lines = ["working memory of one call (MiB above the loaded session; ratio to the forward graph)"]
    for row in rows:
        ratio = row.call_peak_bytes / max(row.forward_call_peak_bytes, 1)
        lines.append(
            f"  {row.method:<18} batch {row.batch:>3} x {row.length:>4}: {row.call_peak_bytes / MIB:8.1f} MiB"
            f"  (forward {row.forward_call_peak_bytes / MIB:.1f} MiB, {ratio:.1f}x)"
        )
    return "\n".join(lines)
