"""Export, re-evaluation of exported files, and the study report."""

import json
from pathlib import Path

import pytest

from tests.helpers.commands import p_value_cells
from tests.helpers.studies import small_study_toml
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text


@pytest.fixture
def finished(small_study):
    return small_study


def test_export_then_evaluate_reproduces_the_stored_score(cli, finished, tmp_path):
    out = tmp_path / "best.json"
    status, said, err = cli(
        "export", "small", "--storage", finished["url"], "--top", "2", "-o", str(out)
    )
    assert status == 0, err
    assert said.strip() == f"wrote 2 configuration(s) to {out}"
    document = json.loads(out.read_text())
    best, second = document["configurations"]
    assert best["mean_rmse"] <= second["mean_rmse"]
    assert best["config"]["repeats"] == 3 and "seed" in best["config"]
    assert "sqlite" not in out.read_text() and "storage" not in out.read_text()
    status, said, err = cli("evaluate", str(out), "--json", "--no-progress")
    assert status == 0, err
    result = json.loads(said)
    assert result["mean"] == pytest.approx(best["mean_rmse"], rel=1e-6)
    assert result["config"]["seed"] == best["config"]["seed"]
    status, said, _ = cli(
        "evaluate", str(out), "--rank", "2", "--repeats", "1", "--json", "--no-progress"
    )
    assert json.loads(said)["rmses"] == pytest.approx([json.loads(said)["mean"]])


@pytest.mark.parametrize("fmt", ["yaml", "toml"])
def test_yaml_and_toml_exports_evaluate_too(cli, finished, tmp_path, fmt):
    status, text, _ = cli("export", "small", "--storage", finished["url"], "--format", fmt)
    assert status == 0
    path = tmp_path / f"best.{fmt}"
    path.write_text(text)
    status, _said, err = cli("evaluate", str(path), "--repeats", "1", "--json", "--no-progress")
    assert status == 0, err


def _exported(cli, finished, tmp_path) -> Path:
    path = tmp_path / "best.json"
    assert cli("export", "small", "--storage", finished["url"], "-o", str(path))[0] == 0
    return path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda text: text.replace('"mean_rmse": ', '"mean_rmse": 1', 1), "was edited or damaged"),
        (lambda text: text[: len(text) // 2], "is neither JSON, TOML nor YAML"),
        (lambda text: "hello", "is not an lstm-tuner export"),
    ],
)
def test_an_edited_or_corrupted_export_is_refused(cli, finished, tmp_path, edit, expected):
    path = _exported(cli, finished, tmp_path)
    path.write_text(edit(path.read_text()))
    status, out, err = cli("evaluate", str(path))
    assert status == 2 and out == ""
    assert expected in err and err.count("\n") == 1


def test_changed_data_is_refused(cli, finished, tmp_path):
    path = _exported(cli, finished, tmp_path)
    csv = finished["csv"]
    original = csv.read_text()
    try:
        csv.write_text(original.replace("266.0", "267.0"))
        status, _, err = cli("evaluate", str(path))
    finally:
        csv.write_text(original)
    assert status == 2
    assert "the data no longer matches the exported configuration" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("export", "nope"), "no study 'nope'"),
        (("export", "small", "--format", "xml"), "format must be one of json, yaml, toml"),
        (("export", "small", "-o", "/nonexistent/dir/best.json"), "cannot write"),
        (("export", "small", "--top", "0"), "--top must be an integer >= 1; got 0"),
        (("report", "nope"), "no study 'nope'"),
        (("evaluate", "--epochs", "5"), "give --data (a series) or an exported"),
    ],
)
def test_export_and_report_bad_input(cli, finished, argv, expected):
    storage = () if argv[0] == "evaluate" else ("--storage", finished["url"])
    status, _out, err = cli(*argv, *storage)
    assert status == 2, err
    assert expected in err and err.count("\n") == 1


def test_a_study_with_no_complete_trial_has_nothing_to_export(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    text = small_study_toml("empty")
    create_study(parse_study_text(text), text, url)
    for command in ("export", "report"):
        status, _, err = cli(
            command,
            "empty",
            "--storage",
            url,
            *(["-o", str(tmp_path / "r")] if command == "report" else []),
        )
        assert status == 2
        assert "study 'empty' has no complete trial" in err


def test_report_compares_the_best_configurations(cli, finished, tmp_path):
    status, _out, err = cli(
        "report",
        "small",
        "--storage",
        finished["url"],
        "-o",
        str(tmp_path / "report"),
        "--top",
        "3",
    )
    assert status == 0, err
    report = (tmp_path / "report" / "report.md").read_text()
    assert (tmp_path / "report" / "boxplot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best_table = report.split("## Best trials")[1].split("##")[0]
    rows = [line for line in best_table.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 4  # header, rule, 4 complete trials
    cells = p_value_cells(report)
    assert len(cells) == 9
    assert all(0 <= cell <= 1 for cell in cells)
    assert cells[0] == cells[4] == cells[8] == 1  # a configuration against itself
