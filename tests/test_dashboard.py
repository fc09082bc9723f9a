"""`tuner dashboard` serves optuna-dashboard on the study storage."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import run_tuner


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def dashboard(small_study, tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuner",
            "dashboard",
            "--storage",
            small_study["url"],
            "--port",
            str(port),
            "--artifacts",
            str(tmp_path / "artifacts"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            _get_json(f"{base}/api/meta")
            break
        except OSError:
            assert process.poll() is None, process.communicate()
            time.sleep(0.3)
    else:
        pytest.fail("the dashboard did not answer within 60 s")
    yield base
    process.terminate()
    process.wait(timeout=10)


def test_the_dashboard_serves_the_study_and_its_trials(dashboard):
    studies = _get_json(f"{dashboard}/api/studies")["study_summaries"]
    (study,) = [s for s in studies if s["study_name"] == "small"]
    detail = _get_json(f"{dashboard}/api/studies/{study['study_id']}")
    assert len(detail["trials"]) == 4
    assert {trial["state"] for trial in detail["trials"]} == {"Complete"}


def test_a_bad_port_is_refused():
    result = run_tuner("dashboard", "--port", "70000")
    assert result.returncode == 2
    assert result.stderr == (
        "tuner dashboard: error: --port must be between 1 and 65535; got 70000\n"
    )
