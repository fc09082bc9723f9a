"""Commands that only read a study create nothing: no database, no folder, no table.

Issue: ``tuner status foo --storage sqlite:///typo/dir/x.db`` exited 2 but left
``typo/dir/x.db`` with Optuna's schema behind; ``tuner status foo`` in an empty
directory created ``storage/tuner.db``.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import sqlalchemy

import tuner
from tuner.exceptions import StorageError


def _everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "argv",
    [
        ("status", "foo", "--storage", "sqlite:///typo/dir/x.db"),
        ("status", "foo"),
        ("export", "foo", "--storage", "sqlite:///nope.db"),
        ("forecast", "--study", "foo", "--storage", "sqlite:///nope.db"),
        ("report", "foo", "-o", "report", "--storage", "sqlite:///nope.db"),
        ("confirm", "foo", "--storage", "sqlite:///nope.db"),
        ("worker", "foo", "--storage", "sqlite:///nope.db"),
    ],
)
def test_a_missing_sqlite_database_is_named_in_one_line_and_not_created(
    cli, tmp_path, monkeypatch, argv
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUNER_STORAGE", raising=False)
    status, out, err = cli(*argv)
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert "no study database at sqlite:///" in err and "the file does not exist" in err
    assert "tuner create" in err
    assert _everything(tmp_path) == []


def test_a_postgres_database_without_study_tables_is_refused_and_left_empty(cli, postgres_url):
    status, out, err = cli("status", "foo", "--storage", postgres_url)
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert "it holds no studies" in err
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        assert sqlalchemy.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_the_api_opens_no_database_it_would_have_to_create(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'x.db'}"
    with pytest.raises(StorageError, match="no study database at"):
        tuner.open_study("foo", storage=url)
    with pytest.raises(StorageError, match="no study database at"):
        tuner.run_worker("foo", storage=url, artifacts=tmp_path / "artifacts")
    assert _everything(tmp_path) == []


def test_an_unknown_study_in_an_existing_database_still_lists_the_others(cli, small_study):
    status, _, err = cli("status", "nosuch", "--storage", small_study["url"])
    assert status == 2 and "no study 'nosuch'" in err and "existing studies: small" in err


def test_the_dashboard_checks_the_database_and_the_port_before_it_prints(
    cli, small_study, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    status, out, err = cli("dashboard", "--storage", "sqlite:///missing.db")
    assert status == 2 and out == "" and "no study database at" in err
    assert _everything(tmp_path) == []
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        status, out, err = cli(
            "dashboard",
            "--storage",
            small_study["url"],
            "--port",
            str(port),
            "--artifacts",
            str(tmp_path / "artifacts"),
        )
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert f"cannot serve on 127.0.0.1:{port}" in err and "choose another --port" in err
    assert _everything(tmp_path) == []
