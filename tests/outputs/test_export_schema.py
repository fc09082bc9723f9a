"""An export is untrusted input: every field is checked whatever its checksum says."""

from __future__ import annotations

import json

import pytest

from tuner.outputs import export, export_schema


def _resealed(document: dict) -> dict:
    """``document`` with every record's checksum recomputed, as an editor could."""
    for record in document["configurations"]:
        if isinstance(record, dict):
            record.pop("checksum", None)
            record["checksum"] = export._checksum(record)
    return document


def _drop(key):
    return lambda document: document["configurations"][0].pop(key)


def _set(key, value):
    return lambda document: document["configurations"][0].__setitem__(key, value)


def _top(key, value):
    return lambda document: document.__setitem__(key, value)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_drop("data_fingerprint"), "configurations[0].data_fingerprint must be 64 lowercase"),
        (_drop("rank"), "configurations[0].rank must be an integer >= 1; got None"),
        (_set("rank", True), "configurations[0].rank must be an integer >= 1; got True"),
        (_drop("config"), "configurations[0].config must be a table; got None"),
        (_set("config", "epochs=1"), "configurations[0].config must be a table; got 'epochs=1'"),
        (_set("residuals", [[1.0], [2.0, 3.0]]), "configurations[0].residuals must be"),
        (_top("version", 99), "version must be 1 to 3; got 99"),
        (_top("version", "banana"), "version must be 1 to 3; got 'banana'"),
        (_top("study", "../../escape"), "study must be a study name"),
    ],
)
def test_an_edited_and_resealed_export_is_refused_naming_the_file_and_field(
    cli, exported, tmp_path, edit, expected
):
    document = json.loads(exported.read_text())
    edit(document)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(_resealed(document)))
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in (("evaluate", str(path)), ("forecast", str(path), "-o", str(tmp_path / "f"))):
        status, out, err = cli(*command)
        assert status == 2 and out == "" and err.count("\n") == 1, err
        assert f"{path}: {expected}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_yaml_alias_bomb_is_refused_at_once(cli, tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    status, _, err = cli("evaluate", str(path))
    assert status == 2 and "is neither JSON, TOML nor YAML (without aliases)" in err


def test_an_export_larger_than_the_cap_is_not_read(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(export_schema, "MAX_EXPORT_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(" " * 1001)
    status, _, err = cli("evaluate", str(path))
    assert status == 2 and "is larger than" in err and err.count("\n") == 1


def test_a_file_that_is_not_utf8_is_refused_in_one_line(cli, tmp_path):
    path = tmp_path / "utf16.json"
    path.write_text('{"kind": "lstm-tuner export"}', encoding="utf-16")
    status, _, err = cli("evaluate", str(path))
    assert status == 2 and "is not UTF-8 text" in err
