from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tuner.cli import main
from tuner.data import load_series
from tuner.engines import EngineTask
from tuner.preparation import Preparation, prepare
from tuner.protocol import Hyperparameters, repeat_setups
from tuner.runner import plan

SHAMPOO_PERSISTENCE_RMSE = 136.76131884905664


@pytest.fixture(scope="session")
def shampoo():
    return load_series("shampoo")


@pytest.fixture(scope="session")
def shampoo_20(shampoo):
    """Shampoo as the tuning tutorial prepares it: 20 training rows, 12 test rows."""
    return prepare(shampoo, Preparation(lag=1, test_size=12, train_size=20))


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
) -> EngineTask:
    """An engine task for ``prepared`` rows that records LSTM states."""
    hp = Hyperparameters(
        epochs=epochs,
        batch_size=batch_size,
        neurons=neurons,
        regime=regime,
        update_epochs=update_epochs,
        framing=framing,
    )
    setups = repeat_setups(seed, repeats, hp, prepared.preparation.lag, plan(prepared, hp))
    return EngineTask(prepared.train, prepared.test, hp, setups, record_states=True)
