"""The heads picture: one heat map (layers x heads) per syntactic relation and one of positional frequency,
kept heads outlined in each, and a last panel saying why each kept head was kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from onnxplain.calibration.dependencies import RELATIONS
from onnxplain.calibration.selection import Thresholds, positional_heads, syntactic_heads

# Cell labels are written only while they stay legible.
MAX_LABELLED_CELLS = 400
KEPT_OUTLINE = "#e8175d"


def plot_head_statistics(
    path: str | Path,
    accuracy: np.ndarray,
    offset: np.ndarray,
    frequency: np.ndarray,
    mask: np.ndarray,
    *,
    thresholds: Thresholds,
    arcs_per_relation: list[int],
    mode: str,
    title: str,
) -> Path:
    """Write the picture as PNG to ``path``. ``accuracy`` is ``[layers, heads, relations]``; ``offset`` and
    ``frequency`` the positional top offset and its share, ``mask`` the selected 0/1 mask."""
    num_layers, num_heads = mask.shape
    panel_width = max(3.2, 0.32 * num_heads + 1.2)
    panel_height = max(2.4, 0.32 * num_layers + 1.0)
    figure = Figure(figsize=(3 * panel_width, 2 * panel_height + 0.8), layout="constrained")
    axes = figure.subplots(2, 3).flatten()
    labelled = num_layers * num_heads <= MAX_LABELLED_CELLS
    for r, relation in enumerate(RELATIONS):
        values = accuracy[:, :, r]
        labels = np.where(np.isnan(values), "", np.char.mod("%d", np.nan_to_num(values) * 100 + 0.5))
        theta = getattr(thresholds, relation)
        heading = f"{relation}: hit rate % (θ = {theta:.2f}, {arcs_per_relation[r]} arcs)"
        image = _heat_map(axes[r], values, labels if labelled else None, mask, heading)
    positional_labels = np.char.mod("%+d", offset).astype(object)
    image = _heat_map(
        axes[4],
        frequency,
        positional_labels if labelled else None,
        mask,
        f"positional: top-offset share (ξ = {thresholds.positional:.2f}); labels: offset",
    )
    _reason_panel(axes[5], accuracy, frequency, mask, thresholds, mode)
    figure.colorbar(image, ax=axes[:5].tolist(), shrink=0.6, label="share")
    figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def _heat_map(axis: Axes, values: np.ndarray, labels: np.ndarray | None, mask: np.ndarray, heading: str):
    image = axis.imshow(np.nan_to_num(values), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    if labels is not None:
        for (layer, head), label in np.ndenumerate(labels):
            dark = np.nan_to_num(values[layer, head]) < 0.6
            axis.text(head, layer, label, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    _outline(axis, mask)
    _layer_head_axes(axis, *mask.shape)
    axis.set_title(heading, fontsize=9)
    return image


def _reason_panel(
    axis: Axes,
    accuracy: np.ndarray,
    frequency: np.ndarray,
    mask: np.ndarray,
    thresholds: Thresholds,
    mode: str,
) -> None:
    syntactic = syntactic_heads(accuracy, thresholds)
    positional = positional_heads(frequency, thresholds)
    # 0 = neither, 1 = syntactic, 2 = positional, 3 = both
    reason = syntactic.astype(int) + 2 * positional.astype(int)
    colours = ["#f2f2f2", "#4c9be8", "#f0a830", "#5bbf6a"]
    axis.imshow(reason, cmap=ListedColormap(colours), vmin=-0.5, vmax=3.5, aspect="auto")
    _outline(axis, mask)
    _layer_head_axes(axis, *mask.shape)
    kept = int(mask.sum())
    axis.set_title(f"mode {mode}: {kept} of {mask.size} heads kept (outlined)", fontsize=9)
    legend = [Patch(color=c, label=n) for c, n in zip(colours[1:], ("syntactic", "positional", "both"), strict=True)]
    axis.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=7, frameon=False)


def _outline(axis: Axes, mask: np.ndarray) -> None:
    for layer, head in np.argwhere(mask > 0):
        axis.add_patch(Rectangle((head - 0.5, layer - 0.5), 1, 1, fill=False, edgecolor=KEPT_OUTLINE, linewidth=2.2))


def _layer_head_axes(axis: Axes, num_layers: int, num_heads: int) -> None:
    axis.set_xticks(range(num_heads))
    axis.set_yticks(range(num_layers))
    axis.tick_params(labelsize=7)
    axis.set_xlabel("head", fontsize=8)
    axis.set_ylabel("layer", fontsize=8)
