import json
import subprocess
import sys

import pytest

from tests.helpers.commands import run_tuner
from tests.helpers.training import SHAMPOO_PERSISTENCE_RMSE
from tuner.evaluation.baselines import BASELINE_NAMES
from tuner.method.regimes import REGIME_NAMES

SMALL_RUN = ("--data", "shampoo", "--train-size", "20", "--batch-size", "4", "--epochs", "2")


def test_baseline_prints_the_persistence_rmse_and_every_baseline(cli):
    status, out, _ = cli("baseline", "--data", "shampoo")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "shampoo: persistence RMSE over the last 12 observations: 136.761"
    assert lines[1].split() == ["baseline", "RMSE", "MAE", "sMAPE", "MASE"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert list(rows) == list(BASELINE_NAMES)
    assert rows["persistence"][0] == "136.761"
    assert all(len(scores) == 4 and "n/a" not in scores for scores in rows.values())


def test_baseline_json(cli):
    status, out, _ = cli("baseline", "--data", "airline", "--test-size", "24", "--json")
    result = json.loads(out)
    assert status == 0
    assert result["test_size"] == 24
    assert result["persistence_rmse"] > 0
    scored = {row["baseline"]: row for row in result["baselines"]}
    assert list(scored) == list(BASELINE_NAMES)
    assert scored["persistence"]["rmse"] == pytest.approx(result["persistence_rmse"])
    assert scored["seasonal_naive"]["reason"] is None  # airline is monthly: season 12


def test_evaluate_json_reports_every_repeat_and_the_config(cli):
    status, out, err = cli(
        "evaluate", *SMALL_RUN, "--repeats", "2", "--seed", "7", "--engine", "keras", "--json"
    )
    assert status == 0, err
    result = json.loads(out)
    assert len(result["rmses"]) == 2
    assert result["mean"] == pytest.approx(sum(result["rmses"]) / 2)
    assert result["persistence_rmse"] == pytest.approx(SHAMPOO_PERSISTENCE_RMSE)
    assert result["skill"] == pytest.approx(1 - result["mean"] / SHAMPOO_PERSISTENCE_RMSE)
    assert result["seconds"] > 0
    assert result["summary"]["count"] == 2
    assert result["config"] == {
        "data": "shampoo",
        "date_column": None,
        "value_column": None,
        "lag": 1,
        "test_size": 12,
        "train_size": 20,
        "epochs": 2,
        "batch_size": 4,
        "neurons": 1,
        "regime": "seeded",
        "update_epochs": 0,
        "framing": "features",
        "learning_rate": 0.001,
        "layers": 1,
        "repeats": 2,
        "seed": 7,
        "engine": "keras",
    }
    assert "training" in err and "100%" in err


def test_evaluate_table_shows_summary_baseline_and_skill(cli):
    status, out, err = cli("evaluate", *SMALL_RUN, "--repeats", "1", "--no-progress")
    assert status == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("data=shampoo lag=1 test_size=12 train_size=20 epochs=2")
    assert [line.split()[0] for line in lines[2:9]] == [
        "count",
        "mean",
        "min",
        "25%",
        "50%",
        "75%",
        "max",
    ]
    assert "persistence RMSE  136.761" in out
    assert "skill " in out and "wall time " in out


def test_same_seed_same_numbers(cli):
    runs = [
        cli("evaluate", *SMALL_RUN, "--repeats", "1", "--seed", "5", "--json", "--no-progress")
        for _ in range(2)
    ]
    assert json.loads(runs[0][1])["rmses"] == json.loads(runs[1][1])["rmses"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("evaluate", "--data", "missing.csv"), "data 'missing.csv' is neither a built-in series"),
        (
            ("evaluate", "--data", "{bad_value}"),
            "column 'Sales', data row 2 is 'n/a', not a finite",
        ),
        (("evaluate", "--data", "{empty_value}"), "column 'Sales', data row 3 is empty"),
        (
            ("evaluate", "--data", "{short}", "--test-size", "3"),
            "has 4 values; lag 1 and test_size 3",
        ),
        (
            ("evaluate", "--data", "shampoo", "--test-size", "0"),
            "test_size must be an integer >= 1; got 0",
        ),
        (("baseline", "--data", "shampoo", "--test-size", "40"), "test_size may be at most 33"),
        (("evaluate", *SMALL_RUN[:4], "--batch-size", "3"), "allowed: 1, 2, 4; got 3"),
        (("evaluate", "--data", "shampoo", "--batch-size", "4"), "allowed: 1, 2; got 4"),
        (("evaluate", "--data", "shampoo", "--regime", "sometimes"), ", ".join(REGIME_NAMES)),
        (
            ("evaluate", "--data", "shampoo", "--epochs", "0"),
            "epochs must be an integer >= 1; got 0",
        ),
        (
            ("evaluate", "--data", "shampoo", "--neurons", "0"),
            "neurons must be an integer >= 1; got 0",
        ),
        (
            ("evaluate", "--data", "shampoo", "--layers", "4"),
            "layers must be an integer <= 3; got 4",
        ),
        (
            ("evaluate", "--data", "shampoo", "--learning-rate", "0"),
            "learning_rate must be a finite number in [1e-05, 1]; got 0.0",
        ),
        (
            ("evaluate", "--data", "shampoo", "--repeats", "0"),
            "repeats must be an integer >= 1; got 0",
        ),
        (
            ("evaluate", "--data", "shampoo", "--engine", "turbo"),
            "engine must be one of fast, keras; got 'turbo'",
        ),
        (
            ("evaluate", "--data", "shampoo", "--epochs", "many"),
            "argument --epochs: invalid int value",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(cli, write_csv, argv, expected):
    files = {
        "{bad_value}": write_csv('"Month","Sales"\n"1-01",1\n"1-02",n/a\n', "bad.csv"),
        "{empty_value}": write_csv('"Month","Sales"\n"1-01",1\n"1-02",2\n"1-03",\n', "empty.csv"),
        "{short}": write_csv('"Month","Sales"\n"1-01",1\n"1-02",2\n"1-03",3\n"1-04",5\n', "s.csv"),
    }
    status, out, err = cli(*(files.get(arg, arg) for arg in argv))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


def test_a_real_process_exits_2_without_traceback():
    result = run_tuner("evaluate", "--data", "shampoo", "--batch-size", "5")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "tuner evaluate: error: batch_size must divide both the 22 training rows and the "
        "12 test rows; allowed: 1, 2; got 5\n"
    )


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from tuner.cli import main\n"
        "try:\n    main(['evaluate', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'pandas', 'sklearn') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().endswith("[]")
    assert "--update-epochs" in result.stdout
