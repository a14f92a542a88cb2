"""A heat map for the terminal: each word on a red (for the explained label) or blue (against) background.

Without colour (``color=False``, e.g. when ``NO_COLOR`` is set or output is not a terminal), words with
noticeable relevance are followed by their signed relevance instead: ``film[+0.42]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from onnxplain.runtime.render.scale import top_words, word_intensities
from onnxplain.runtime.results import Explanation, Word

RESET = "\x1b[0m"
DIM = "\x1b[2m"
VISIBLE = 0.08  # words weaker than this (relative to the strongest) stay uncoloured


def _background(intensity: float) -> str:
    """White-to-red for positive, white-to-blue for negative, dark text on top."""
    fade = round(255 * (1 - 0.85 * abs(intensity)))
    red, green, blue = (255, fade, fade) if intensity > 0 else (fade, fade, 255)
    return f"\x1b[48;2;{red};{green};{blue}m\x1b[38;2;0;0;0m"


def heat_line(result: Explanation, color: bool) -> str:
    """The text with its words marked, keeping the original spacing; a cut-off tail is shown dimmed."""
    return mark_words(result.text, result.words, word_intensities(result), color, result.truncated)


def mark_words(text: str, words: Sequence[Word], strengths: Sequence[float], color: bool, truncated: bool) -> str:
    """``text`` with each of its ``words`` coloured by its signed strength in [-1, 1]."""
    pieces: list[str] = []
    cursor = 0
    for word, intensity in zip(words, strengths, strict=True):
        pieces.append(text[cursor : word.start])
        if abs(intensity) < VISIBLE:
            pieces.append(word.text)
        elif color:
            pieces.append(f"{_background(intensity)}{word.text}{RESET}")
        else:
            pieces.append(f"{word.text}[{word.relevance:+.3g}]")
        cursor = word.end
    tail = text[cursor:]
    if truncated and tail.strip():
        pieces.append(f"{DIM}{tail}{RESET}" if color else f"{tail} [not explained: cut off]")
    else:
        pieces.append(tail)
    return "".join(pieces)


def render_terminal(results: Sequence[Explanation], color: bool = True) -> str:
    blocks = []
    for number, result in enumerate(results, start=1):
        probability = result.probabilities[result.label]
        header = (
            f"[{number}/{len(results)}] {result.method}: predicted {result.label} ({probability:.2f}), "
            f"explaining {result.target}"
        )
        strongest = ", ".join(f"{text} {relevance:+.3g}" for text, relevance in top_words(result))
        lines = [header, heat_line(result, color), f"strongest words: {strongest}"]
        lines += [f"warning: {w}" for w in result.warnings]
        blocks.append("\n".join(lines))
    return join_blocks(blocks, "red: supports the explained label, blue: speaks against it", color)


def join_blocks(blocks: Sequence[str], legend: str, color: bool) -> str:
    """The explanations one after another, with the colour legend at the end when colours are used."""
    legend = legend if color else ""
    return "\n\n".join(blocks) + ("\n\n" + legend if legend and blocks else "") + "\n"
