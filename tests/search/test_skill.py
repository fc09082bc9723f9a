"""One definition of skill per objective, the same in status, exports, reports and the API.

Issue: the same trial's skill was 0.587 in ``tuner status`` (from the ensemble
RMSE that ranked it) and 0.540 in its export and report (from the mean RMSE).
"""

from __future__ import annotations

import re

import pytest

import tuner
from tests.helpers.studies import small_study_toml
from tuner.evaluation.metrics import skill


@pytest.fixture(scope="module")
def ensemble_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("skill")
    study_file = root / "ens.toml"
    text = small_study_toml("ens", trials=2).replace(
        'name = "ens"', 'name = "ens"\nobjective = "ensemble_mae"'
    )
    study_file.write_text(text)
    study, status = tuner.run_study(
        study_file, storage=f"sqlite:///{root}/t.db", save_artifacts=False
    )
    assert status == 0
    return study, root


def test_skill_is_the_objectives_everywhere(ensemble_study):
    study, root = ensemble_study
    status = study.status()
    assert status.objective == "ensemble_mae"
    expected = skill(status.best_value, status.persistence_validation)
    best = study.export(1)["configurations"][0]
    trials = study.trials().set_index("number")
    report = study.report(root / "report").read_text()
    assert best["skill"] == pytest.approx(expected)
    assert trials.loc[best["trial"], "skill"] == pytest.approx(expected)
    assert re.search(rf"\|\s+{re.escape(f'{expected:.4g}')}\s+\|", report)
    ensemble_mae = best["validation_metrics"]["ensemble_mae"]
    assert status.best_value == pytest.approx(ensemble_mae)
    mean_rmse_skill = 1 - best["validation_mean_rmse"] / best["persistence_rmse"]
    assert best["skill"] != pytest.approx(mean_rmse_skill)  # no longer the mean RMSE's
