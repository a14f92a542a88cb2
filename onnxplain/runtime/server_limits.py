"""The server's limits, each refused with a clear 4xx (or 503 for a full queue) when exceeded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLimits:
    max_text_chars: int = 10_000  # characters per text (token sequences are still cut to the model's limit)
    max_texts: int = 64  # texts per request
    max_queued_texts: int = 512  # texts accepted and not yet answered; beyond it requests get 503
    max_batch: int = 32  # texts per ONNX Runtime call
    max_wait_ms: float = 2.0  # how long the first request of a batch waits for others to join it

    @property
    def max_body_bytes(self) -> int:
        """Room for every text at 4 bytes a character (UTF-8's worst case) plus the JSON around them."""
        return self.body_bytes(strings_per_item=1)

    def body_bytes(self, strings_per_item: int) -> int:
        """The body limit when each of the ``max_texts`` items holds this many strings (a question answering
        request sends a question and a context per item)."""
        return self.max_texts * strings_per_item * self.max_text_chars * 4 + 64 * 1024


DEFAULT_LIMITS = ServerLimits()
