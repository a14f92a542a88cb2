"""A child process that answers one JSON line for each JSON line it is sent, for the benchmarks that time
another runtime (Node, a browser) interleaved with Python; the worker scripts are under clients/js/bench/."""

from __future__ import annotations

import json
import subprocess


class JsonLinesWorker:
    """``command`` started once for the whole run; ``ask`` sends a request and waits for its answer; ``close``
    sends ``{"quit": true}`` and waits for the process to end (killing our own child, by its handle, after 60 s)."""

    def __init__(self, command: list[str], what: str) -> None:
        self.what = what  # for the error when the process ends early: what it is and what it needs
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, request: dict) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.what} ended early")
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"quit": True}) + "\n")
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
