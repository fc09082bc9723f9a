"""A forecast's output directory: refused where writing would harm, swapped in whole.

Issue: ``-o .`` inside an earlier forecast used to delete it and write nothing.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tuner.data.preparation import Preparation
from tuner.data.series import load_series
from tuner.data.source import DataSource
from tuner.evaluation.config import EvaluationConfig
from tuner.exceptions import ConfigError
from tuner.forecasting import directories, files
from tuner.forecasting.files import write_forecast
from tuner.forecasting.refit import forecast
from tuner.method.protocol import Hyperparameters


@pytest.fixture(scope="module")
def tiny_forecast():
    """A forecast of two shampoo steps from one repeat of two epochs: cheap to write."""
    config = EvaluationConfig(
        DataSource("shampoo"),
        Preparation(),
        Hyperparameters(epochs=2, batch_size=1, neurons=1, regime="stateless"),
        repeats=1,
    )
    return forecast(load_series("shampoo"), config, 2)


def _earlier(directory: Path) -> Path:
    """A directory that holds an earlier forecast's files."""
    directory.mkdir(parents=True)
    (directory / "preparation.json").write_text('{"earlier": true}')
    (directory / "forecast.csv").write_text("earlier")
    return directory


def _intact(directory: Path) -> bool:
    return (directory / "forecast.csv").read_text() == "earlier"


@pytest.mark.parametrize(
    ("where", "output", "expected"),
    [
        ("earlier", ".", "is the current directory or one of its parents"),
        ("earlier/sub", "..", "is the current directory or one of its parents"),
        ("", "link", "is a symbolic link"),
        ("", "earlier/forecast.csv", "is a file; give a directory path"),
        ("", "", "output directory must be a file or directory path; got ''"),
    ],
)
def test_an_output_that_would_harm_is_refused_in_one_line_and_nothing_changes(
    cli, exported, tmp_path, monkeypatch, where, output, expected
):
    earlier = _earlier(tmp_path / "earlier")
    (earlier / "sub").mkdir()
    (tmp_path / "link").symlink_to(earlier)
    monkeypatch.chdir(tmp_path / where)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    status, said, err = cli("forecast", str(exported), "-o", output)
    assert status == 2 and said == "" and err.count("\n") == 1, err
    assert expected in err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert _intact(earlier)


def test_an_earlier_forecast_holding_other_files_is_not_replaced(cli, exported, tmp_path):
    earlier = _earlier(tmp_path / "earlier")
    (earlier / "notes.txt").write_text("mine")
    status, _, err = cli("forecast", str(exported), "-o", str(earlier))
    assert status == 2 and "holds an earlier forecast and other files (notes.txt)" in err
    assert _intact(earlier) and (earlier / "notes.txt").read_text() == "mine"


def test_the_default_directory_comes_from_a_valid_study_name_only(
    cli, exported, tmp_path, monkeypatch
):
    document = json.loads(exported.read_text())
    document["study"] = "../../escape"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    monkeypatch.chdir(tmp_path)
    status, _, err = cli("forecast", str(edited))
    assert status == 2 and f"{edited}: study must be a study name" in err
    assert not (tmp_path / "storage").exists() and not (tmp_path.parent / "escape-1").exists()


def test_a_new_forecast_replaces_an_earlier_one_whole_and_leaves_nothing_else(
    tiny_forecast, tmp_path, monkeypatch
):
    earlier = _earlier(tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    written = write_forecast(tiny_forecast, Path("new") / ".." / "out")
    assert written == earlier.resolve()
    assert not _intact(earlier) and (earlier / "repeat_0.keras").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no new/, no staging left
    mode = stat.S_IMODE(earlier.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask  # not mkdtemp's 0700


@pytest.mark.parametrize("failing", ["writing", "swapping by renames"])
def test_a_failure_at_any_point_leaves_the_earlier_forecast_whole(
    tiny_forecast, tmp_path, monkeypatch, failing
):
    earlier = _earlier(tmp_path / "out")
    if failing == "writing":

        def write(forecast, directory):
            (directory / "forecast.csv").write_text("half")
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(files, "_write_files", write)
    else:
        rename, calls = os.rename, []

        def flaky(source, destination):
            calls.append(source)
            if len(calls) == 2:  # the new forecast into place, after the earlier moved aside
                raise OSError(5, "Input/output error")
            rename(source, destination)

        monkeypatch.setattr(directories, "_exchange", lambda first, second: False)
        monkeypatch.setattr(directories.os, "rename", flaky)
    with pytest.raises(OSError):
        write_forecast(tiny_forecast, earlier)
    assert _intact(earlier)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_exchange_swaps_two_directories_in_one_step(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "a").write_text("1")
    (second / "b").write_text("2")
    assert directories._exchange(first, second)  # Linux: renameat2 exists on every CI kernel
    assert [p.name for p in first.iterdir()] == ["b"]
    assert [p.name for p in second.iterdir()] == ["a"]


class _Died(BaseException):
    """Stands in for the process dying: nothing after it runs, no cleanup included."""


@pytest.mark.parametrize("dying", ["while writing", "after the exchange"])
def test_a_crash_at_any_point_leaves_one_whole_forecast_and_the_next_write_tidies(
    tiny_forecast, tmp_path, monkeypatch, dying
):
    earlier = _earlier(tmp_path / "out")
    write_files = files._write_files

    def die(*args, **kwargs):
        raise _Died

    if dying == "while writing":

        def half(forecast, directory):
            (directory / "forecast.csv").write_text("half")
            raise _Died

        monkeypatch.setattr(files, "_write_files", half)
        monkeypatch.setattr(directories.shutil, "rmtree", die)  # a dead process removes nothing
    else:
        swap = directories._swap

        def swap_then_die(staging, target):
            swap(staging, target)
            monkeypatch.setattr(directories.shutil, "rmtree", die)

        monkeypatch.setattr(directories, "_swap", swap_then_die)
    with pytest.raises(_Died):
        write_forecast(tiny_forecast, earlier)
    leftovers = [p for p in tmp_path.iterdir() if p.name != "out"]
    assert [p.name.startswith(".out-swap-") for p in leftovers] == [True]
    if dying == "while writing":
        assert _intact(earlier)
    else:
        assert (earlier / "repeat_0.keras").is_file() and _intact(leftovers[0])
    monkeypatch.undo()
    assert files._write_files is write_files
    write_forecast(tiny_forecast, earlier)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (earlier / "repeat_0.keras").is_file()


def test_check_output_returns_the_resolved_directory(tmp_path):
    assert files.check_output(tmp_path / "a" / ".." / "b") == (tmp_path / "b").resolve()
    with pytest.raises(ConfigError, match="holds no earlier forecast"):
        files.check_output(tmp_path)
