"""Workers keep their compiled graphs for the next process (tuner/distributed/compile_cache.py).

A later process that builds the same graph must find the entry the first one
wrote: the same key, so no second entry, and the same forecasts from the loaded
program. A graph whose compiled form changed from one process to the next (as
it did while a constant was captured into the training loops) fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from tests.helpers.commands import run_tuner
from tests.helpers.studies import study_toml
from tuner.distributed.compile_cache import (
    ENVIRONMENT_VARIABLE,
    TF_FLAG,
    resolve_compile_cache,
    use_compile_cache,
)

ONE_TRIAL = """
import json, sys
from pathlib import Path
from tuner.distributed.compile_cache import use_compile_cache
use_compile_cache(Path(sys.argv[1]))
from tests.helpers.training import shampoo_config
from tuner.evaluation.runner import evaluate
from tuner.evaluation.config import load_and_prepare
config = shampoo_config(epochs=3, repeats=2, seed=5)
evaluation = evaluate(load_and_prepare(config), config)
print(json.dumps({"rmse": evaluation.rmses.tolist(), "compile": evaluation.compile_seconds}))
"""


@pytest.fixture
def no_setting(monkeypatch):
    """Neither variable set, and both restored afterwards, whatever the test set."""
    for name in (ENVIRONMENT_VARIABLE, "TF_XLA_FLAGS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_the_cache_is_the_users_whatever_directory_a_study_runs_in(
    no_setting, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    here = resolve_compile_cache()
    assert here.parent == tmp_path / "xdg" / "lstm-tuner" / "xla-cache"
    monkeypatch.chdir(tmp_path.parent)
    assert resolve_compile_cache() == here  # a fresh directory starts warm
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    default = resolve_compile_cache()
    assert default.parent == tmp_path / "home" / ".cache" / "lstm-tuner" / "xla-cache"
    # one subdirectory per TensorFlow version and processor: native code is for both
    assert here.name == default.name and here.name.startswith("tensorflow-")
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, str(tmp_path / "mine"))
    assert resolve_compile_cache().parent == tmp_path / "mine"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "OFF")
    assert resolve_compile_cache() is None


def test_the_cache_is_handed_to_tensorflow_unless_it_has_one_or_cannot_be_written(
    no_setting, tmp_path, monkeypatch, caplog
):
    directory = tmp_path / "cache"
    assert use_compile_cache(directory) == directory
    assert directory.is_dir()
    assert f"{TF_FLAG}={directory}" in os.environ["TF_XLA_FLAGS"]
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_auto_jit=1 {TF_FLAG}=/theirs")
    assert use_compile_cache(tmp_path / "other") is None
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=1 {TF_FLAG}=/theirs"
    monkeypatch.delenv("TF_XLA_FLAGS")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert use_compile_cache(blocker / "cache") is None
    assert "TF_XLA_FLAGS" not in os.environ
    assert "no compile cache: cannot create" in caplog.text


@pytest.mark.slow
def test_a_second_process_loads_the_first_ones_graph_and_forecasts_the_same(tmp_path):
    directory = tmp_path / "cache"

    def one_trial() -> dict:
        ran = subprocess.run(
            [sys.executable, "-c", ONE_TRIAL, str(directory)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            cwd=ROOT,
        )
        return json.loads(ran.stdout.splitlines()[-1])

    first = one_trial()
    entries = {path: path.stat().st_mtime_ns for path in directory.iterdir()}
    assert len(entries) == 1 and next(iter(entries)).suffix == ".pb"
    second = one_trial()
    assert {path: path.stat().st_mtime_ns for path in directory.iterdir()} == entries
    assert second["rmse"] == first["rmse"]


@pytest.mark.slow
def test_tuner_worker_keeps_its_graph_in_the_users_cache_unless_told_not_to(
    no_setting, tmp_path, monkeypatch
):
    study = tmp_path / "tiny.toml"
    search = {"epochs": [3], "neurons": [1], "batch_size": [4], "regimes": ["seeded"]}
    study.write_text(study_toml("tiny", trials=1, repeats=2, search=search))
    for name, setting in (("kept", ""), ("none", "off")):
        url = f"sqlite:///{tmp_path / name / 'tuner.db'}"
        (tmp_path / name).mkdir()
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / name / "cache"))
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, setting)
        assert run_tuner("create", str(study), "--storage", url).returncode == 0
        ran = run_tuner("worker", "tiny", "--storage", url, "--no-artifacts", timeout=300)
        assert ran.returncode == 0, ran.stderr
    kept = tmp_path / "kept" / "cache" / "lstm-tuner" / "xla-cache"
    assert list(kept.glob("tensorflow-*/*.pb"))
    assert not (tmp_path / "none" / "cache" / "lstm-tuner").exists()  # matplotlib uses it too
