from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tuner.cli import main
from tuner.data.preparation import Preparation, prepare
from tuner.data.series import load_series
from tuner.data.source import DataSource
from tuner.engines import EngineTask, FastEngine, KerasEngine
from tuner.evaluation.runner import EvaluationConfig, plan
from tuner.method.protocol import Hyperparameters, repeat_setups

SHAMPOO_PERSISTENCE_RMSE = 136.76131884905664


@pytest.fixture(scope="session")
def shampoo():
    return load_series("shampoo")


@pytest.fixture(scope="module")
def engines():
    """The compiled fast engine and the Keras reference it must agree with."""
    return FastEngine(jit_compile=True), KerasEngine()


@pytest.fixture(scope="module")
def tiny(shampoo):
    """Shampoo at lags 1 and 2, 8 training and 4 test rows: batch sizes 1, 2 and 4 fit."""
    return {
        lag: prepare(shampoo, Preparation(lag=lag, test_size=4, train_size=8)) for lag in (1, 2)
    }


@pytest.fixture(scope="session")
def shampoo_20(shampoo):
    """Shampoo as the tuning tutorial prepares it: 20 training rows, 12 test rows."""
    return prepare(shampoo, Preparation(lag=1, test_size=12, train_size=20))


@pytest.fixture(autouse=True)
def artifacts_dir(tmp_path: Path, monkeypatch) -> Path:
    """Every test's trial plots go to its own directory, never the repository's storage/."""
    directory = tmp_path / "artifacts"
    monkeypatch.setenv("TUNER_ARTIFACTS", str(directory))
    return directory


@pytest.fixture(autouse=True)
def xla_flags_restored(monkeypatch) -> None:
    """TensorFlow's XLA flags as they were before the test, whatever it ran.

    ``tuner worker`` points its own process at a compile cache through
    ``TF_XLA_FLAGS``; a test that runs it in this process must not hand that
    directory to the worker processes of the tests after it.
    """
    monkeypatch.setenv("TF_XLA_FLAGS", os.environ.get("TF_XLA_FLAGS", ""))


@pytest.fixture
def write_csv(tmp_path: Path):
    def write(text: str, name: str = "series.csv") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


@pytest.fixture
def cli(capsys):
    """Run ``tuner`` in-process; return (exit status, stdout, stderr)."""

    def run(*argv: str):
        try:
            status = main(list(argv))
        except SystemExit as exit_:
            status = exit_.code
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def run_tuner(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``tuner`` as a separate process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "tuner", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> dict:
    """GET ``url`` and decode its JSON body."""
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def start_dashboard(
    options: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """Start ``tuner dashboard OPTIONS --port <free>`` and wait until its API answers.

    Returns:
        The process (the caller terminates it) and the base URL.
    """
    import time

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tuner", "dashboard", *options, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get_json(f"{base}/api/meta")
            return process, base
        except OSError:
            assert process.poll() is None, process.communicate()
            time.sleep(0.3)
    process.kill()
    pytest.fail("the dashboard did not answer within 60 s")


def study_detail(base: str, name: str) -> dict:
    """optuna-dashboard's JSON for study ``name``."""
    studies = get_json(f"{base}/api/studies")["study_summaries"]
    (study,) = [s for s in studies if s["study_name"] == name]
    return get_json(f"{base}/api/studies/{study['study_id']}")


def served_artifacts(base: str, name: str) -> dict[int, dict[str, bytes]]:
    """Every trial's artifacts as the dashboard serves them: number -> filename -> PNG bytes."""
    import urllib.request

    served: dict[int, dict[str, bytes]] = {}
    for trial in study_detail(base, name)["trials"]:
        files = served.setdefault(trial["number"], {})
        for meta in trial["artifacts"]:
            url = f"{base}/artifacts/{trial['study_id']}/{trial['trial_id']}/{meta['artifact_id']}"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.headers["Content-Type"] == "image/png"
                files[meta["filename"]] = response.read()
    return served


def p_value_cells(report: str) -> list[float]:
    """The cells of a report's pairwise p-value table, row by row."""
    section = report.split("## Pairwise Mann-Whitney U p-values")[1].split("##")[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [float(cell) for row in rows for cell in row.split("|")[2:-1]]


def shampoo_config(epochs: int, repeats: int, seed: int) -> EvaluationConfig:
    """The tuning tutorial's configuration (batch 4, 1 unit, seeded, 20 training rows)."""
    return EvaluationConfig(
        source=DataSource("shampoo"),
        preparation=Preparation(train_size=20),
        hyperparameters=Hyperparameters(epochs=epochs, batch_size=4, neurons=1, regime="seeded"),
        repeats=repeats,
        seed=seed,
    )


def engine_task(
    prepared,
    regime: str,
    *,
    epochs: int = 2,
    batch_size: int = 4,
    update_epochs: int = 0,
    framing: str = "features",
    repeats: int = 1,
    seed: int = 3,
    neurons: int = 2,
    layers: int = 1,
    learning_rate: float = 0.001,
) -> EngineTask:
    """An engine task for ``prepared`` rows that records LSTM states."""
    hp = Hyperparameters(
        epochs=epochs,
        batch_size=batch_size,
        neurons=neurons,
        regime=regime,
        update_epochs=update_epochs,
        framing=framing,
        layers=layers,
        learning_rate=learning_rate,
    )
    plan(prepared, hp)  # refuses a batch size that does not fit
    setups = repeat_setups(seed, repeats, hp, prepared.preparation.lag)
    return EngineTask(prepared.train, prepared.test, hp, setups, record_states=True)


POSTGRES_ENV = "TUNER_TEST_POSTGRES_URL"
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A PostgreSQL URL to create test databases with.

    ``.ci/run`` exports TUNER_TEST_POSTGRES_URL, and then an unreachable server
    fails the tests; without it, the local default is tried and the tests skip
    with the reason when nothing answers.
    """
    import sqlalchemy

    from tuner.storage.url import DatabaseURL

    url = os.environ.get(POSTGRES_ENV)
    try:
        with sqlalchemy.create_engine(url or LOCAL_POSTGRES).connect():
            pass
    except sqlalchemy.exc.OperationalError as error:
        reason = str(error.orig).splitlines()[0]
        shown = DatabaseURL.parse(url or LOCAL_POSTGRES)
        if url:
            pytest.fail(f"{POSTGRES_ENV}={shown} is set but unreachable: {reason}")
        pytest.skip(f"no PostgreSQL at {shown} (set {POSTGRES_ENV}): {reason}")
    return url or LOCAL_POSTGRES


@pytest.fixture
def postgres_url(postgres_admin_url: str):
    """A fresh, empty database for one test, dropped afterwards."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    name = f"tuner_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path: Path) -> str:
    """Each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tuner.db'}"
    return request.getfixturevalue("postgres_url")


SMALL_STUDY = """
name = "{name}"
trials = 4
repeats = 3
[data]
series = "{series}"
train_size = 20
[search]
epochs = [5, 30]
neurons = [1]
batch_size = [4]
regimes = ["seeded", "reset_epoch"]
[pruner]
enabled = false
"""


@pytest.fixture(scope="session")
def small_study(tmp_path_factory) -> dict[str, object]:
    """A finished 4-trial study named ``small`` on a copy of shampoo at ``csv``.

    Its trials' plots are in the artifact store at ``artifacts``.

    Tests may edit the CSV (and must restore it) to check fingerprints.
    """
    import shutil

    from tuner.distributed.worker import run_worker
    from tuner.search.study import create_study
    from tuner.search.studyfile import parse_study_text

    root = tmp_path_factory.mktemp("study")
    csv = root / "shampoo.csv"
    shutil.copy(ROOT / "tuner" / "data" / "datasets" / "shampoo-sales.csv", csv)
    url = f"sqlite:///{root / 'tuner.db'}"
    text = SMALL_STUDY.format(name="small", series=csv)
    create_study(parse_study_text(text), text, url)
    run_worker("small", url, root / "artifacts", worker_index=0)
    return {"url": url, "csv": csv, "root": root, "artifacts": root / "artifacts"}
