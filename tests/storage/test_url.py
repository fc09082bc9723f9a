"""The database URL is parsed once into a value: reading it creates nothing, shows no password."""

from __future__ import annotations

import pytest

from tuner.exceptions import StorageError
from tuner.storage.url import DatabaseURL, resolve_url


def test_a_sqlite_url_names_its_file_and_creates_nothing(tmp_path):
    url = DatabaseURL.parse(f"sqlite:///{tmp_path}/not/yet/tuner.db")
    assert (url.driver, url.path, url.has_password) == (
        "sqlite",
        tmp_path / "not" / "yet" / "tuner.db",
        False,
    )
    assert url.redact("anything") == "anything"
    assert not (tmp_path / "not").exists()  # parsing, masking and has_password make no folder


def test_a_postgresql_password_is_never_shown():
    text = "postgresql+psycopg://user:hunter2@db.example/tuner"
    url = DatabaseURL.parse(text)
    assert url.has_password and (url.host, url.port) == ("db.example", 5432)
    assert url.masked == "postgresql+psycopg://user:***@db.example/tuner"
    for shown in (str(url), repr(url), f"{url}", url.where):
        assert "hunter2" not in shown
    assert url.redact(f'storage = "{text}"') == f'storage = "{url.masked}"'


def test_a_proxy_address_is_a_host_and_a_port():
    url = DatabaseURL.parse("grpc://127.0.0.1:13000")
    assert url.is_proxy and (url.host, url.port, url.where) == (
        "127.0.0.1",
        13000,
        "127.0.0.1:13000",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grpc://host", "is not a proxy address; expected grpc://HOST:PORT"),
        ("mysql://u:secret@h/db", "uses 'mysql'; supported: sqlite, postgresql"),
        ("not a url", "is not a database URL; expected sqlite:///"),
    ],
)
def test_a_bad_url_is_one_line_without_its_password(text, message):
    with pytest.raises(StorageError, match=message) as error:
        DatabaseURL.parse(text)
    assert "secret" not in str(error.value)


def test_the_option_beats_the_environment_beats_the_study_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_STORAGE", "sqlite:///env.db")
    assert resolve_url("sqlite:///option.db", "sqlite:///file.db").path.name == "option.db"
    assert resolve_url(None, "sqlite:///file.db").path.name == "env.db"
    monkeypatch.delenv("TUNER_STORAGE")
    assert resolve_url(None, "sqlite:///file.db").path.name == "file.db"
    assert resolve_url(None).path == tmp_path / "storage" / "tuner.db"
    parsed = DatabaseURL.parse("sqlite:///x.db")
    assert resolve_url(parsed) is parsed  # parsed once, not again
