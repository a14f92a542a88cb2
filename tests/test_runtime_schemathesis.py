"""Schemathesis (from PyPI) against the live server, the way a new user would run it on ``/openapi.json``:
every one of its checks, on loopback, a bounded number of examples per operation, a fixed seed.

It finds what a schema and a server disagree on: a request the schema admits but the server refuses (or the
reverse), a status or a response body the document does not describe, a 405 without ``Allow``, a 5xx. The
one setting it is given is in ``schemathesis.toml`` at the repository's root (413 counts as a rejection).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from onnxplain.runtime import Explainer
from onnxplain.runtime.server import create_app
from onnxplain.runtime.server_limits import ServerLimits
from tests.servers import serving

ROOT = Path(__file__).resolve().parents[1]
LIMITS = ServerLimits(max_text_chars=200, max_texts=4, max_queued_texts=64, max_batch=8)
EXAMPLES = 25  # per operation and phase


def schemathesis(url: str, work: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    """``schemathesis run`` with all checks; its output and its JSON run report."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "0",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "json",
        "--report-dir",
        str(work),
    ]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=900)
    reports = sorted(work.glob("*.json"))
    return done, json.loads(reports[0].read_text()) if reports else {}


@pytest.mark.slow
@pytest.mark.parametrize("artifact", ["tiny_artifact", "tiny_qa_artifact"])
def test_schemathesis_finds_nothing_with_all_its_checks(
    artifact: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    explainer = Explainer.load(request.getfixturevalue(artifact), batch_size=LIMITS.max_batch)
    with serving(create_app(explainer, LIMITS)) as url:
        done, report = schemathesis(url, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and report, output[-6000:]
    operations, cases = report["operations"], report["test_cases"]
    print(f"schemathesis on {artifact}: {operations['tested']} operations, {cases['generated']} test cases")
    assert operations["tested"] == operations["total"] >= 3  # POST /explain, GET /health, GET /metadata
    assert cases["generated"] >= 3 * EXAMPLES and cases["with_failures"] == cases["errored"] == 0
    assert report["failures"] == report["errors"] == []
    assert all(report["phases"][phase]["status"] == "success" for phase in ("examples", "coverage", "fuzzing"))
    assert not any(report["warnings"].values()), report["warnings"]  # e.g. a schema stricter than the server
    accepted = report["valid_rates"]["POST /explain"]["fuzzing"]
    assert accepted["accepted"] > 0 and accepted["rejected"] == 0  # explained, not just refused
