"""Output that says what it should and no more: no bars before an error, no Optuna noise.

Issue: ``tuner run`` with a bad study file printed two empty progress bars before
its error; the trial bar sat at 0 for seconds without saying why; Optuna's "A new
study created in RDB" line leaked into the API's output; the dashboard called the
objective "Objective 0".
"""

from __future__ import annotations

import contextlib

import optuna

import tuner
from tests.helpers.studies import small_study_toml
from tuner.cli.progress import deferred_progress_bar


def test_run_with_a_bad_study_file_prints_its_error_and_nothing_else(cli, tmp_path):
    study_file = tmp_path / "bad.toml"
    study_file.write_text(small_study_toml("bad").replace("trials = 4", "trials = 0"))
    status, out, err = cli("run", str(study_file), "--storage", f"sqlite:///{tmp_path}/t.db")
    assert status == 2 and out == ""
    assert err == f"tuner run: error: {study_file}: trials must be an integer >= 1; got 0\n"


def test_a_bar_says_what_it_waits_on_until_its_first_step(capsys):
    with contextlib.ExitStack() as bars:
        show = deferred_progress_bar(bars, "trials", "trial", False, starting="warming up")
        assert capsys.readouterr().err == ""  # nothing before the first call
        show(0, 4)
        waiting = capsys.readouterr().err
        show(1, 4)
        running = capsys.readouterr().err
    assert "trials (warming up): " in waiting and "0/4" in waiting
    assert "warming up" not in running and "trials: " in running and "1/4" in running


def test_creating_a_study_from_the_api_prints_nothing_and_names_the_objective(tmp_path, capfd):
    study_file = tmp_path / "quiet.toml"
    study_file.write_text(small_study_toml("quiet", trials=1))
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)  # Optuna's default, in a fresh process
    try:
        study, created = tuner.create_study(study_file, storage=f"sqlite:///{tmp_path}/t.db")
        assert optuna.logging.get_verbosity() == optuna.logging.INFO  # restored
    finally:
        optuna.logging.set_verbosity(before)
    assert created
    out, err = capfd.readouterr()
    assert out == "" and "A new study created" not in err
    assert study.optuna_study().metric_names == ["validation mean RMSE"]
