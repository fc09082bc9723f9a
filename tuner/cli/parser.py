"""The ``tuner`` command's parser: every subcommand, its options and their help."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from tuner import __version__
from tuner.cli import commands
from tuner.distributed import DEFAULT_PROXY_PORT
from tuner.method.regimes import REGIME_NAMES

__all__ = ["EXIT_USAGE", "build_parser"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error of the tool."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand (also used to check commands written in files)."""
    parser = _Parser(
        prog="tuner",
        description="Find good LSTM configurations for time-series forecasting.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_command(
        subcommands,
        "baseline",
        "Print every baseline's scores on the test period (persistence, seasonal naive, "
        "AutoETS, AutoARIMA, Theta, their mean).",
        commands.baseline,
        _add_data_options,
    )
    _add_command(
        subcommands,
        "init",
        "Write a first study file for a CSV of your own: columns, frequency, season and "
        "windows read from it, checked as 'tuner create' checks a study.",
        commands.init,
        _add_init_options,
    )
    _add_command(
        subcommands,
        "evaluate",
        "Fit one configuration several times and score it under walk-forward validation "
        "(given by options, or by an exported file).",
        commands.evaluate,
        _add_export_file_options,
        _add_data_options,
        _add_training_options,
    )
    _add_command(
        subcommands,
        "forecast",
        "Refit an exported (or a study's) configuration on the whole series and forecast "
        "past its end: forecast.csv, forecast.png, the Keras models and preparation.json.",
        commands.forecast,
        _add_forecast_options,
    )
    _add_command(
        subcommands,
        "create",
        "Create a study from a study file (idempotent; safe to run concurrently).",
        commands.create,
        _add_study_file_options,
    )
    _add_command(
        subcommands,
        "worker",
        "Run trials of a study until its trial budget is met. Compiled graphs are kept "
        "for the next worker in $TUNER_COMPILE_CACHE (default: ~/.cache/lstm-tuner/xla-cache, "
        "or under $XDG_CACHE_HOME; 'off' keeps none).",
        commands.worker,
        _add_study_name_options,
        _add_worker_options,
    )
    _add_command(
        subcommands,
        "run",
        "Create a study and run local workers on it to the end, with a progress bar.",
        commands.run,
        _add_study_file_options,
        _add_run_options,
    )
    _add_command(
        subcommands,
        "export",
        "Export a study's best configurations with their scores, to re-run them later.",
        commands.export,
        _add_study_name_options,
        _add_export_options,
    )
    _add_command(
        subcommands,
        "report",
        "Write a Markdown report with plots comparing a study's best configurations.",
        commands.report,
        _add_study_name_options,
        _add_report_options,
    )
    _add_command(
        subcommands,
        "dashboard",
        "Serve optuna-dashboard on the study storage (localhost only by default).",
        commands.dashboard,
        _add_dashboard_options,
    )
    _add_command(
        subcommands,
        "proxy",
        "Serve the study database to workers through Optuna's gRPC storage proxy, so "
        "many workers share a few database connections (localhost only by default).",
        commands.proxy,
        _add_proxy_options,
    )
    _add_command(
        subcommands,
        "confirm",
        "Score a study's best configurations on its holdout with fresh seeds (once; "
        "'tuner run' and the last worker do it by themselves).",
        commands.confirm,
        _add_study_name_options,
        _add_progress_option,
    )
    _add_command(
        subcommands,
        "status",
        "Show a study's trials by state, its best trial and its throughput.",
        commands.status,
        _add_study_name_options,
        _add_json_option,
    )
    return parser


def _add_command(
    subcommands: argparse._SubParsersAction,
    name: str,
    summary: str,
    handler: Callable[[argparse.Namespace], int],
    *option_groups: Callable[[argparse.ArgumentParser], None],
) -> None:
    command = subcommands.add_parser(name, help=summary, description=summary)
    for add_options in option_groups:
        add_options(command)
    command.set_defaults(handler=handler)


def _add_init_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="a CSV file with a header row, a date and a value column")
    parser.add_argument("-o", "--output", help="study file to write (default: NAME.toml here)")
    parser.add_argument("--name", help="study name (default: from the CSV's file name)")
    _add_csv_reading_options(parser)


def _add_csv_reading_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How a CSV is read: which columns, and how its dates are written."""
    parser.add_argument("--date-column", help="date/period column (default: the first column)")
    parser.add_argument("--value-column", help="value column (default: the second column)")
    parser.add_argument(
        "--date-format",
        help="how the dates are written, e.g. %%d/%%m/%%Y: needed when day and month could "
        "be read either way",
    )


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", help="built-in series (shampoo, airline) or a CSV file path")
    _add_csv_reading_options(group)
    group.add_argument("--lag", type=int, default=1, help="past differences per input row (1)")
    group.add_argument("--test-size", type=int, default=12, help="rows forecast at the end (12)")
    group.add_argument(
        "--train-size", type=int, help="keep only the newest N training rows (default: all)"
    )
    group.add_argument("--json", action="store_true", help="print one JSON object instead")


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    from tuner.engines import DEFAULT_ENGINE, ENGINES  # NumPy: only when the parser is built

    group = parser.add_argument_group("configuration")
    group.add_argument("--epochs", type=int, default=1000, help="training epochs (1000)")
    group.add_argument(
        "--batch-size", type=int, default=1, help="a common divisor of train and test sizes (1)"
    )
    group.add_argument("--neurons", type=int, default=1, help="LSTM units (1)")
    group.add_argument(
        "--regime", default="seeded", help=f"state regime: {', '.join(REGIME_NAMES)} (seeded)"
    )
    group.add_argument(
        "--update-epochs", type=int, default=0, help="retraining epochs per test step (0)"
    )
    group.add_argument(
        "--framing", default="features", help="features: (1, lag); timesteps: (lag, 1)"
    )
    group.add_argument("--layers", type=int, default=1, help="stacked LSTM layers, 1 to 3 (1)")
    group.add_argument(
        "--learning-rate", type=float, default=0.001, help="Adam's learning rate (0.001)"
    )
    run = parser.add_argument_group("run")
    run.add_argument("--repeats", type=int, help="independent fits (10, or the export's)")
    run.add_argument("--seed", type=int, default=0, help="base seed of all repeats (0)")
    run.add_argument(
        "--engine", default=DEFAULT_ENGINE, help=f"{', '.join(ENGINES)} ({DEFAULT_ENGINE})"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _add_storage_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        help="database URL (default: $TUNER_STORAGE, then the study file's storage key, "
        "then sqlite:///storage/tuner.db)",
    )


def _add_artifacts_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts",
        help="directory of the trials' plots, shared by workers and dashboard "
        "(default: $TUNER_ARTIFACTS, then storage/artifacts)",
    )


def _add_study_file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study_file", help="a study file, for example studies/shampoo.toml")
    parser.add_argument("--trials", type=int, help="global trial budget (default: the file's)")
    _add_storage_option(parser)


def _add_study_name_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the study's name")
    _add_storage_option(parser)


def _add_trial_artifacts_options(parser: argparse.ArgumentParser) -> None:
    _add_artifacts_option(parser)
    parser.add_argument("--no-artifacts", action="store_true", help="save no plots of the trials")


def _add_worker_options(parser: argparse.ArgumentParser) -> None:
    _add_trial_artifacts_options(parser)
    parser.add_argument(
        "--worker-index",
        type=int,
        help="seeds this worker's sampler with the study seed and this index, so a rerun "
        "samples the same; give each worker its own (default: a random seed)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="log only warnings and errors, not every trial"
    )


def _add_export_file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", help="an exported configurations file (from 'tuner export')"
    )
    parser.add_argument("--rank", type=int, default=1, help="which exported configuration (1)")
    parser.add_argument(
        "--holdout",
        action="store_true",
        help="rerun it as confirmed on the holdout (same seed and repeats), not as searched",
    )


def _add_forecast_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", help="an exported configurations file (from 'tuner export')"
    )
    parser.add_argument("--study", help="a study's name, instead of a FILE")
    _add_storage_option(parser)
    parser.add_argument("--rank", type=int, default=1, help="which configuration (1: the best)")
    parser.add_argument(
        "--horizon",
        type=int,
        help="steps to forecast (default: the horizon the configuration was scored at, or "
        "its test_size at horizon 1)",
    )
    parser.add_argument("--repeats", type=int, help="independent fits (default: the export's)")
    parser.add_argument(
        "--level",
        type=int,
        action="append",
        help="a prediction interval's level in percent, 1 to 99; repeat for several "
        "(default: 80 and 95)",
    )
    parser.add_argument(
        "-o", "--output", help="directory to write (default: storage/forecasts/STUDY-RANK)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes that forecast a panel's series side by side (1)",
    )
    _add_progress_option(parser)


def _add_export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", type=int, default=1, help="how many configurations (1)")
    parser.add_argument("--format", default="json", help="json, yaml or toml (json)")
    parser.add_argument("-o", "--output", help="file to write (default: standard output)")


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", type=int, default=5, help="configurations compared (5)")
    parser.add_argument("-o", "--output", help="directory to write (default: storage/reports/NAME)")


def _add_dashboard_options(parser: argparse.ArgumentParser) -> None:
    _add_storage_option(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (8080)")
    _add_artifacts_option(parser)


def _add_proxy_options(parser: argparse.ArgumentParser) -> None:

    _add_storage_option(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PROXY_PORT, help=f"port ({DEFAULT_PROXY_PORT})"
    )
    parser.add_argument("--tls-cert", type=Path, help="the proxy's certificate (PEM), for TLS")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM, unencrypted)")
    parser.add_argument(
        "--tls-client-ca",
        type=Path,
        help="ask workers for certificates signed by this authority (PEM)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="serve a --host beyond loopback without TLS or a token (a network only "
        "workers reach); the token comes from $TUNER_PROXY_TOKEN or $TUNER_PROXY_TOKEN_FILE",
    )


def _add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_trial_artifacts_options(parser)
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
