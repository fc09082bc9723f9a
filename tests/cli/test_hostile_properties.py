"""Mutated exports and CSVs fed to ``evaluate`` and ``forecast``: never a traceback.

Property (Hypothesis): whatever an editor, a damaged disk or an attacker does to
an export or to the CSV it names, ``tuner evaluate`` and ``tuner forecast``
either succeed or exit 2 with one line on stderr; nothing outside the output
directory is created, changed or deleted. Records are resealed after each edit
(their checksums recomputed, as anyone can), so the edits reach the field checks.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from tuner.api import plan_export_evaluation, plan_export_forecast
from tuner.exceptions import TunerError
from tuner.outputs import export

pytestmark = pytest.mark.slow

MOST_EPOCHS = 400
"""Repeat-epochs above which a valid mutation is only planned, not fitted, to bound time."""

PROFILE = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples in every CI run: a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["../../escape", "/tmp", "1", "shampoo", "airline", "1e9", "NaN"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document, the document's root left out."""
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    found = []
    for key, child in children:
        found.append((*prefix, key))
        if len(found) < 400:
            found += _paths(child, (*prefix, key))
    return found


def _edit(document: dict, path: tuple, action: str, value: object) -> None:
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


def _reseal(document: dict) -> None:
    """Recompute every record's checksum, as an editor could."""
    records = document.get("configurations")
    for record in [*(records if isinstance(records, list) else []), document.get("series")]:
        if isinstance(record, dict):
            record.pop("checksum", None)
            record["checksum"] = export._checksum(record)


def _snapshot(root: Path, output: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and output not in p.parents
    }


@pytest.fixture
def workspace(small_study, exported, tmp_path, monkeypatch):
    """A directory with a copy of the study's CSV and an export that names the copy."""
    root = tmp_path / "work"
    root.mkdir()
    csv = root / "shampoo.csv"
    shutil.copy(small_study["csv"], csv)
    document = json.loads(exported.read_text())
    for record in document["configurations"]:
        record["config"]["data"] = str(csv)
    _reseal(document)
    monkeypatch.chdir(root)
    return root, csv, document


def _run(cli, command: str, path: Path, output: Path) -> None:
    """Run ``command`` on the export at ``path``; assert success or one refusal line."""
    try:
        plan = (
            plan_export_evaluation(path, repeats=1)
            if command == "evaluate"
            else plan_export_forecast(path, horizon=2, repeats=1)
        )
    except TunerError:
        plan = None
    if plan is not None:
        assume(plan.total_epochs <= MOST_EPOCHS)
    argv = [command, str(path), "--repeats", "1", "--no-progress"]
    if command == "forecast":
        argv += ["--horizon", "2", "-o", str(output)]
    status, out, err = cli(*argv)
    event(f"{command} {'refused' if plan is None else 'ran'}")
    assert "Traceback" not in err, err
    if plan is None:
        assert status == 2 and out == "" and err.count("\n") == 1, (status, err)
        assert err.startswith(f"tuner {command}: error: "), err
    else:
        assert status == 0, err


@PROFILE
@given(
    data=st.data(),
    command=st.sampled_from(["evaluate", "forecast"]),
    action=st.sampled_from(["replace", "delete"]),
)
def test_an_edited_export_is_run_or_refused_in_one_line(cli, workspace, data, command, action):
    root, _, original = workspace
    document = copy.deepcopy(original)
    path = data.draw(st.sampled_from(_paths(document)), label="path")
    value = data.draw(JSON_VALUES, label="value") if action == "replace" else None
    _edit(document, path, action, value)
    if data.draw(st.sampled_from([True, True, True, False]), label="resealed"):
        _reseal(document)
    target = root / "edited.json"
    target.write_text(json.dumps(document))
    output = root / "out"
    before = _snapshot(root, output)
    _run(cli, command, target, output)
    assert _snapshot(root, output) == before


@PROFILE
@given(
    command=st.sampled_from(["evaluate", "forecast"]),
    cut=st.integers(min_value=0, max_value=10_000),
    noise=st.binary(max_size=12),
    fmt=st.sampled_from(["json", "yaml"]),
)
def test_a_damaged_export_file_is_refused_in_one_line(cli, workspace, command, cut, noise, fmt):
    root, _, document = workspace
    text = export.dump_export(document, fmt).encode()
    cut %= len(text)
    target = root / f"damaged.{fmt}"
    target.write_bytes(text[:cut] + noise + text[cut + len(noise) :])
    output = root / "out"
    before = _snapshot(root, output)
    _run(cli, command, target, output)
    assert _snapshot(root, output) == before


LINE_EDITS = st.sampled_from(
    ["replace", "delete", "duplicate", "insert", "swap", "encode", "append", "append"]
)


@PROFILE
@given(
    command=st.sampled_from(["evaluate", "forecast"]),
    edit=LINE_EDITS,
    line=st.integers(min_value=0, max_value=40),
    text=st.text(max_size=30),
    value=st.floats() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=8),
)
def test_an_edited_csv_is_run_or_refused_in_one_line(
    cli, workspace, command, edit, line, text, value
):
    root, csv, document = workspace
    original = csv.read_bytes()
    lines = original.decode().splitlines(keepends=True)
    at = line % len(lines)
    if edit == "replace":
        lines[at] = text + "\n"
    elif edit == "delete":
        del lines[at]
    elif edit == "duplicate":
        lines.insert(at, lines[at])
    elif edit == "insert":
        lines.insert(at, text + "\n")
    elif edit == "swap":
        lines[at], lines[-1] = lines[-1], lines[at]
    elif edit == "append":  # the next month, as a grown series would have it
        lines.append(f'"4-{1 + line % 12:02d}",{value}\n')
    edited = "".join(lines).encode("utf-16" if edit == "encode" else "utf-8", "surrogatepass")
    target = root / "best.json"
    target.write_text(json.dumps(document))
    try:
        csv.write_bytes(edited)
        output = root / "out"
        before = _snapshot(root, output)
        _run(cli, command, target, output)
        assert _snapshot(root, output) == before
    finally:
        csv.write_bytes(original)
