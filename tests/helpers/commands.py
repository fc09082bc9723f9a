"""Running ``tuner`` as a user would, and reading what its commands serve and write."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT


def run_tuner(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``tuner`` as a separate process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "tuner", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> dict:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def start_dashboard(
    options: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """Start ``tuner dashboard OPTIONS --port <free>`` and wait until its API answers.

    Returns:
        The process (the caller terminates it) and the base URL.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tuner", "dashboard", *options, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get_json(f"{base}/api/meta")
            return process, base
        except OSError:
            assert process.poll() is None, process.communicate()
            time.sleep(0.3)
    process.kill()
    pytest.fail("the dashboard did not answer within 60 s")


def study_detail(base: str, name: str) -> dict:
    """optuna-dashboard's JSON for study ``name``."""
    studies = get_json(f"{base}/api/studies")["study_summaries"]
    (study,) = [s for s in studies if s["study_name"] == name]
    return get_json(f"{base}/api/studies/{study['study_id']}")


def served_artifacts(base: str, name: str) -> dict[int, dict[str, bytes]]:
    """Every trial's artifacts as the dashboard serves them: number -> filename -> PNG bytes."""
    served: dict[int, dict[str, bytes]] = {}
    for trial in study_detail(base, name)["trials"]:
        files = served.setdefault(trial["number"], {})
        for meta in trial["artifacts"]:
            url = f"{base}/artifacts/{trial['study_id']}/{trial['trial_id']}/{meta['artifact_id']}"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.headers["Content-Type"] == "image/png"
                files[meta["filename"]] = response.read()
    return served


def p_value_cells(report: str) -> list[float]:
    """The cells of a report's pairwise p-value table, row by row."""
    section = report.split("## Pairwise Mann-Whitney U p-values")[1].split("##")[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [float(cell) for row in rows for cell in row.split("|")[2:-1]]


def doc_block(page: str, marker: str) -> str:
    """The fenced Python block after ``marker`` in a page (README.md, docs/...): run as written."""
    text = (ROOT / page).read_text()
    assert text.count(marker) == 1, f"{page} should hold {marker} once"
    after = text.split(marker, 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]
