"""The fixtures every test may ask for; the plain helpers they use are in tests/helpers/."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.pgcluster import POSTGRES_ENV
from tests.helpers.studies import small_study_toml
from tuner.cli import main
from tuner.data.preparation import Preparation, prepare
from tuner.data.series import load_series
from tuner.engines import FastEngine, KerasEngine


def pytest_configure(config):
    """Keep the suite's compile cache out of the user's: one per test process, shared by its tests.

    Workers keep compiled graphs in the user's cache directory by default; a test
    run must neither read what an earlier run (of other code) left there nor fill it.
    """
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="tuner-test-cache-")


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
    text = small_study_toml("small", csv)
    create_study(parse_study_text(text), text, url)
    run_worker("small", url, root / "artifacts", worker_index=0)
    return {"url": url, "csv": csv, "root": root, "artifacts": root / "artifacts"}


@pytest.fixture
def exported(small_study, cli, tmp_path) -> Path:
    """Study ``small``'s best configuration, exported as JSON: what forecasts start from."""
    path = tmp_path / "best.json"
    status, _, err = cli("export", "small", "--storage", small_study["url"], "-o", str(path))
    assert status == 0, err
    return path
