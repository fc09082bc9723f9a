"""The tutorials' sweeps as grid studies (studies/tutorials/), and a CI-sized run of one."""

import re

import optuna
import pytest

from tests.helpers import ROOT
from tests.helpers.commands import p_value_cells, run_tuner
from tuner.search.space import SearchSpace
from tuner.search.studyfile import load_study_file
from tuner.search.windows import StudyData

SWEEPS = sorted((ROOT / "studies" / "tutorials").glob("*.toml"))


def test_every_tutorial_sweep_is_there():
    assert [path.stem for path in SWEEPS] == [
        "airline",
        "batch-12",
        "batch-size",
        "epochs",
        "neurons",
        "regimes",
        "update-epochs",
    ]


@pytest.mark.parametrize("path", SWEEPS, ids=lambda path: path.stem)
def test_a_sweep_runs_its_whole_grid_once_with_30_repeats_each(path):
    config, _ = load_study_file(str(path))
    space = SearchSpace.build(StudyData.load(config))
    assert config.sampler.kind == "grid" and not config.pruner.enabled
    assert config.repeats == 30
    assert config.trials == len(space.grid_points()) > 1


@pytest.mark.slow
def test_a_ci_sized_epochs_sweep_runs_end_to_end_with_two_workers(tmp_path):
    text = (SWEEPS[3]).read_text()
    text = text.replace("epochs = [500, 1000, 2000, 4000, 6000]", "epochs = [5, 10, 20]")
    text = re.sub(
        r"(?m)^repeats = 30$", "repeats = 2", re.sub(r"(?m)^trials = 5", "trials = 3", text)
    )
    study_file = tmp_path / "epochs.toml"
    study_file.write_text(text)
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    ran = run_tuner("run", str(study_file), "--workers", "2", "--storage", url, "--no-progress")
    assert ran.returncode == 0, ran.stderr
    assert "3 of 3 trials finished (3 complete" in ran.stdout
    study = optuna.load_study(study_name="tutorial-epochs", storage=url)
    assert sorted(t.params["epochs"] for t in study.trials) == [5, 10, 20]
    assert all(len(t.user_attrs["rmses"]) == 2 for t in study.trials)
    report = run_tuner(
        "report", "tutorial-epochs", "--storage", url, "--top", "3", "-o", str(tmp_path / "r")
    )
    assert report.returncode == 0, report.stderr
    markdown = (tmp_path / "r" / "report.md").read_text()
    for epochs in (5, 10, 20):
        assert f"epochs={epochs}" in markdown
    cells = p_value_cells(markdown)
    assert len(cells) == 9 and all(0 <= p <= 1 for p in cells)
