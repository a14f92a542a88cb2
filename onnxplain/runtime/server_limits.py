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
    drain_timeout_s: float = 30.0  # on SIGTERM, how long accepted requests may take before the server exits

    def queue_bytes(self, max_length: int) -> int:
        """A bound on the memory of a full queue: each waiting text as read and parsed (3 bytes a character),
        tokenized and answered (about 300 bytes a token), plus 16 MiB for the server itself."""
        return 16 * 2**20 + self.max_queued_texts * (3 * self.max_text_chars + 300 * max_length)

    def body_bytes(self, strings_per_item: int, extra_chars_per_item: int = 0) -> int:
        """The body limit when each of the ``max_texts`` items holds this many strings of ``max_text_chars``
        (a question answering request sends a question and a context per item) and ``extra_chars_per_item``
        more (a label name), at 12 bytes a character (JSON's longest spelling of one: a ``\\uXXXX\\uXXXX``
        surrogate pair), plus room for the JSON around them."""
        chars = strings_per_item * self.max_text_chars + extra_chars_per_item
        return self.max_texts * (chars * 12 + 64) + 64 * 1024


DEFAULT_LIMITS = ServerLimits()
