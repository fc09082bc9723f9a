"""Per-trial plots: what they show, where they go, and a full disk."""

import errno
import logging

import numpy as np
import optuna
import pytest
from PIL import Image

from tests.helpers.studies import small_study_toml
from tuner.distributed.worker import run_worker
from tuner.outputs.artifacts import (
    STUDY_ARTIFACTS,
    TRIAL_ARTIFACTS,
    open_artifact_store,
    resolve_artifact_dir,
    save_study_artifacts,
)
from tuner.outputs.plots import median_repeat, save_forecast_plot
from tuner.search.names import ARTIFACT_SECONDS
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text


def test_the_median_repeat_is_the_one_with_the_middle_rmse():
    assert median_repeat(np.array([3.0, 1.0, 2.0])) == 2
    assert median_repeat(np.array([4.0, 1.0, 3.0, 2.0])) == 3  # lower middle of an even count


def test_the_forecast_plot_is_a_png(shampoo, tmp_path):
    forecasts = shampoo.values[-12:] + np.arange(3)[:, None] * 10.0
    save_forecast_plot(shampoo, forecasts, np.array([5.0, 1.0, 9.0]), tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as image:
        assert image.format == "PNG" and image.size == (700, 350)


def test_the_artifact_directory_is_the_option_then_the_environment_then_storage(
    monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_ARTIFACTS", "from-env")
    assert resolve_artifact_dir("given") == tmp_path / "given"
    assert resolve_artifact_dir(None) == tmp_path / "from-env"
    monkeypatch.delenv("TUNER_ARTIFACTS")
    assert resolve_artifact_dir(None) == tmp_path / "storage" / "artifacts"


def _small_study(tmp_path, shampoo_csv="shampoo") -> str:
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = small_study_toml("small", shampoo_csv, trials=2)
    create_study(parse_study_text(text), text, url)
    return url


def test_every_complete_trial_gets_both_plots_with_content(tmp_path):
    url = _small_study(tmp_path)
    run_worker("small", url, tmp_path / "artifacts", worker_index=0)
    study = optuna.load_study(study_name="small", storage=url)
    for trial in study.trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.user_attrs[ARTIFACT_SECONDS] > 0  # its cost: benchmarks/artifacts.py
        metas = optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)
        assert sorted(meta.filename for meta in metas) == sorted(TRIAL_ARTIFACTS)
        for meta in metas:
            content = (tmp_path / "artifacts" / meta.artifact_id).read_bytes()
            assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 5000
    (plot,) = optuna.artifacts.get_all_artifact_meta(study)  # no holdout, one step: one plot
    assert plot.filename == STUDY_ARTIFACTS[0]
    assert (tmp_path / "artifacts" / plot.artifact_id).read_bytes().startswith(b"\x89PNG")
    store = open_artifact_store(tmp_path / "artifacts")
    assert save_study_artifacts(store, study) == []  # a later worker draws nothing again


def test_a_full_disk_loses_the_plots_but_not_the_trials(tmp_path, monkeypatch, caplog):
    def disk_full(self, artifact_id, content_body):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(optuna.artifacts.FileSystemArtifactStore, "write", disk_full)
    url = _small_study(tmp_path)
    with caplog.at_level(logging.WARNING, logger="tuner.outputs.artifacts"):
        assert run_worker("small", url, tmp_path / "artifacts", worker_index=0) == 2
    study = optuna.load_study(study_name="small", storage=url)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(np.isfinite(t.value) for t in study.trials)
    messages = [r.getMessage() for r in caplog.records if r.name == "tuner.outputs.artifacts"]
    assert messages == [
        *(
            f"trial {n}: artifacts not saved (No space left on device); the trial itself is stored"
            for n in (0, 1)
        ),
        "study plots not saved (No space left on device)",
    ]


@pytest.mark.parametrize("option", [["--artifacts", "x", "--no-artifacts"]])
def test_artifacts_and_no_artifacts_together_are_refused(cli, option):
    status, _, err = cli("worker", "small", *option)
    assert status == 2
    assert err == "tuner worker: error: give --artifacts DIR or --no-artifacts, not both\n"


def test_an_unusable_artifact_directory_is_one_line(cli, tmp_path, small_study):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status, _, err = cli(
        "worker", "small", "--storage", small_study["url"], "--artifacts", str(blocker / "x")
    )
    assert status == 2
    assert err == (
        f"tuner worker: error: cannot use the artifact directory '{blocker / 'x'}': "
        "Not a directory; give --artifacts (or TUNER_ARTIFACTS) a writable directory\n"
    )
