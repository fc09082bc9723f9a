"""The ``tuner`` command: a thin layer that parses options and prints results.

Each subcommand turns its options into the library's settings classes, which do
all validation, and prints what comes back. A :class:`~tuner.exceptions.TunerError`
becomes one line on stderr and exit status 2; heavy libraries are imported only
inside the subcommand that needs them, so ``tuner --help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, NoReturn

from tuner import __version__
from tuner._checks import require_int
from tuner.exceptions import ConfigError, TunerError
from tuner.method.regimes import REGIME_NAMES

if TYPE_CHECKING:
    from pathlib import Path

    from tuner.data.preparation import Preparation
    from tuner.evaluation.runner import DataSource, Evaluation, EvaluationConfig
    from tuner.forecast.refit import Forecast
    from tuner.search.study import StudyStatus

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error of the tool."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tuner`` command line and return its exit status."""
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", message=r".*experimental")
    logging.basicConfig(format="[%(levelname).1s %(asctime)s] %(name)s: %(message)s")
    try:
        return args.handler(args)
    except TunerError as error:
        print(f"tuner {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"tuner {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        from tuner.storage.database import database_failure

        failure = database_failure(error)
        if failure is None:
            raise
        print(f"tuner {args.command}: error: {failure}", file=sys.stderr)
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand (also used to check commands written in files)."""
    parser = _Parser(
        prog="tuner",
        description="Find good LSTM configurations for time-series forecasting.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_command(
        commands,
        "baseline",
        "Print the persistence forecast's RMSE on the test period.",
        _baseline,
        _add_data_options,
    )
    _add_command(
        commands,
        "evaluate",
        "Fit one configuration several times and score it under walk-forward validation "
        "(given by options, or by an exported file).",
        _evaluate,
        _add_export_file_options,
        _add_data_options,
        _add_training_options,
    )
    _add_command(
        commands,
        "forecast",
        "Refit an exported (or a study's) configuration on the whole series and forecast "
        "past its end: forecast.csv, forecast.png, the Keras models and preparation.json.",
        _forecast,
        _add_forecast_options,
    )
    _add_command(
        commands,
        "create",
        "Create a study from a study file (idempotent; safe to run concurrently).",
        _create,
        _add_study_file_options,
    )
    _add_command(
        commands,
        "worker",
        "Run trials of a study until its trial budget is met. Compiled graphs are kept "
        "for the next worker in $TUNER_COMPILE_CACHE (default: xla-cache beside a SQLite "
        "database, else storage/xla-cache; 'off' keeps none).",
        _worker,
        _add_study_name_options,
        _add_worker_options,
    )
    _add_command(
        commands,
        "run",
        "Create a study and run local workers on it to the end, with a progress bar.",
        _run,
        _add_study_file_options,
        _add_run_options,
    )
    _add_command(
        commands,
        "export",
        "Export a study's best configurations with their scores, to re-run them later.",
        _export,
        _add_study_name_options,
        _add_export_options,
    )
    _add_command(
        commands,
        "report",
        "Write a Markdown report with plots comparing a study's best configurations.",
        _report,
        _add_study_name_options,
        _add_report_options,
    )
    _add_command(
        commands,
        "dashboard",
        "Serve optuna-dashboard on the study storage (localhost only by default).",
        _dashboard,
        _add_dashboard_options,
    )
    _add_command(
        commands,
        "proxy",
        "Serve the study database to workers through Optuna's gRPC storage proxy, so "
        "many workers share a few database connections (localhost only by default).",
        _proxy,
        _add_proxy_options,
    )
    _add_command(
        commands,
        "confirm",
        "Score a study's best configurations on its holdout with fresh seeds (once; "
        "'tuner run' and the last worker do it by themselves).",
        _confirm,
        _add_study_name_options,
        _add_progress_option,
    )
    _add_command(
        commands,
        "status",
        "Show a study's trials by state, its best trial and its throughput.",
        _status,
        _add_study_name_options,
        _add_json_option,
    )
    return parser


def _add_command(
    commands: argparse._SubParsersAction,
    name: str,
    summary: str,
    handler: Callable[[argparse.Namespace], int],
    *option_groups: Callable[[argparse.ArgumentParser], None],
) -> None:
    command = commands.add_parser(name, help=summary, description=summary)
    for add_options in option_groups:
        add_options(command)
    command.set_defaults(handler=handler)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", help="built-in series (shampoo, airline) or a CSV file path")
    group.add_argument("--date-column", help="date/period column (default: the first column)")
    group.add_argument("--value-column", help="value column (default: the second column)")
    group.add_argument("--lag", type=int, default=1, help="past differences per input row (1)")
    group.add_argument("--test-size", type=int, default=12, help="rows forecast at the end (12)")
    group.add_argument(
        "--train-size", type=int, help="keep only the newest N training rows (default: all)"
    )
    group.add_argument("--json", action="store_true", help="print one JSON object instead")


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    from tuner.engines import DEFAULT_ENGINE, ENGINES

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
        "--horizon", type=int, help="steps to forecast (default: the configuration's test_size)"
    )
    parser.add_argument("--repeats", type=int, help="independent fits (default: the export's)")
    parser.add_argument(
        "-o", "--output", help="directory to write (default: storage/forecasts/STUDY-RANK)"
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
    from tuner.distributed.proxy import DEFAULT_PORT

    _add_storage_option(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")


def _add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_trial_artifacts_options(parser)
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _create(args: argparse.Namespace) -> int:
    from tuner.api import create_study
    from tuner.storage.database import mask

    _check_study_file_options(args)
    study, created = create_study(args.study_file, args.trials, args.storage)
    print(f"study {study.name!r} {'created' if created else 'already exists'} in {mask(study.url)}")
    return 0


def _check_study_file_options(args: argparse.Namespace) -> None:
    """Check ``--trials`` by its option name; quiet Optuna; warn of a visible password."""
    if args.trials is not None:
        require_int("--trials", args.trials, 1)
    _optuna_verbosity(quiet=True)
    _warn_of_visible_password(args)


def _worker(args: argparse.Namespace) -> int:
    from tuner.distributed.compile_cache import resolve_compile_cache, use_compile_cache
    from tuner.distributed.pool import sigterm_interrupts
    from tuner.distributed.worker import run_worker

    _optuna_verbosity(quiet=args.quiet)
    url, artifacts = _storage_url(args), _trial_artifacts(args)
    use_compile_cache(resolve_compile_cache(url))
    with sigterm_interrupts():
        ran = run_worker(args.name, url, artifacts, worker_index=args.worker_index)
    if not args.quiet:
        print(f"worker finished: ran {ran} trial(s) of study {args.name!r}")
    return 0


def _storage_url(args: argparse.Namespace) -> str:
    """The database URL (``resolve_url``); warns of a password visible on the command line."""
    from tuner.storage.database import resolve_url

    _warn_of_visible_password(args)
    return resolve_url(args.storage)


def _warn_of_visible_password(args: argparse.Namespace) -> None:
    """Every user of the machine can read a command line (``ps``), so say when it has one."""
    from tuner.storage.database import ENVIRONMENT_VARIABLE, has_password

    if args.storage and has_password(args.storage):
        logging.getLogger("tuner").warning(
            "--storage carries a password, which 'ps' shows to every user of this machine; "
            "set %s instead",
            ENVIRONMENT_VARIABLE,
        )


def _trial_artifacts(args: argparse.Namespace) -> Path | None:
    """Where workers save their trials' plots; ``None`` with ``--no-artifacts``."""
    from tuner.outputs.artifacts import resolve_artifact_dir

    if args.no_artifacts:
        if args.artifacts:
            raise ConfigError("give --artifacts DIR or --no-artifacts, not both")
        return None
    return resolve_artifact_dir(args.artifacts)


def _optuna_verbosity(quiet: bool) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING if quiet else optuna.logging.INFO)


def _run(args: argparse.Namespace) -> int:
    from tuner.api import run_study
    from tuner.search.study import study_status

    require_int("--workers", args.workers, 1)
    artifacts = _trial_artifacts(args)
    _check_study_file_options(args)
    with contextlib.ExitStack() as bars:
        trials = bars.enter_context(_progress_bar("trials", "trial", args.no_progress))
        confirmation = _deferred_progress_bar(
            bars, "confirming on the holdout", "configuration", args.no_progress
        )
        study, status = run_study(
            args.study_file,
            args.workers,
            args.trials,
            args.storage,
            artifacts,
            save_artifacts=artifacts is not None,
            on_trials=trials,
            on_confirmation=confirmation,
        )
    print(_status_text(study_status(study.name, study.url)))
    return status


def _deferred_progress_bar(
    bars: contextlib.ExitStack, desc: str, unit: str, disabled: bool
) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that opens its progress bar on its first call."""
    shown: list[Callable[[int, int], None]] = []

    def show(done: int, total: int) -> None:
        if not shown:
            shown.append(bars.enter_context(_progress_bar(desc, unit, disabled)))
        shown[0](done, total)

    return show


def _confirm(args: argparse.Namespace) -> int:
    from tuner.search.study import study_status

    url = _storage_url(args)
    _optuna_verbosity(quiet=True)
    _confirm_with_progress(args.name, url, args.no_progress)
    print(_status_text(study_status(args.name, url)))
    return 0


def _confirm_with_progress(name: str, url: str, no_progress: bool) -> None:
    """Confirm the study's best configurations on its holdout, with a progress bar."""
    from tuner.search.confirmation import confirm_study

    with _progress_bar("confirming on the holdout", "configuration", no_progress) as show:
        confirm_study(name, url, show)


@contextlib.contextmanager
def _progress_bar(desc: str, unit: str, disabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, and the ``(done, total)`` callback that moves it."""
    from tqdm import tqdm

    with tqdm(desc=desc, unit=unit, file=sys.stderr, disable=disabled) as bar:

        def show(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        yield show


def _status(args: argparse.Namespace) -> int:
    from tuner.search.study import study_status

    status = study_status(args.name, _storage_url(args))
    print(json.dumps(status.to_dict()) if args.json else _status_text(status))
    return 0


def _status_text(status: StudyStatus) -> str:
    """Counts, then the findings: holdout scores first, validation beside them, baselines."""
    from tuner.evaluation.metrics import OBJECTIVE_LABELS, skill
    from tuner.search.findings import NO_HOLDOUT

    counts = status.counts
    lines = [
        f"study {status.name!r}: {counts.finished} of {status.budget} trials finished "
        f"({counts.complete} complete, {counts.pruned} pruned, {counts.failed} failed; "
        f"{counts.running} running, {counts.waiting} waiting, {counts.retried} retried)",
    ]
    label = OBJECTIVE_LABELS[status.objective]
    for row in status.confirmed:
        lines.append(f"confirmed trial {row['trial']}: {_confirmed_scores(row, status.objective)}")
    if status.best_value is not None:
        params = " ".join(f"{key}={value}" for key, value in status.best_params.items())
        lines.append(
            f"best validation {label} {status.best_value:.3f} (skill "
            f"{_number(skill(status.best_value, status.persistence_rmse))} vs persistence, "
            f"{_number(skill(status.best_value, status.best_baseline_validation_rmse))} vs the "
            f"best baseline): {params}"
        )
        if not status.holdout:
            lines.append(NO_HOLDOUT)
        elif not status.confirmed:
            lines.append("not confirmed on the holdout yet: 'tuner confirm' does it")
    lines.append(f"validation RMSE of persistence {status.persistence_rmse:.3f}")
    for row in status.baselines:
        scores = f"validation {_number(row['validation_rmse'])}"
        if status.holdout:
            scores += f", holdout {_number(row['holdout_rmse'])}"
        reason = f" (not available: {row['reason']})" if row["reason"] else ""
        lines.append(f"baseline {row['baseline']}: {scores}{reason}")
    if status.trials_per_minute is not None:
        lines.append(f"throughput {status.trials_per_minute:.1f} trials per minute")
    return "\n".join(lines)


def _confirmed_scores(row: dict[str, object], objective: str) -> str:
    """A confirmed configuration's holdout score under the objective, the other beside it."""
    from tuner.evaluation.metrics import OBJECTIVE_LABELS

    label = OBJECTIVE_LABELS[objective]
    other = next(name for name in OBJECTIVE_LABELS if name != objective)
    holdout = row["holdout_rmse"]
    scores = (
        "n/a"
        if holdout is None
        else f"{holdout:.3f} (std {_number(row['holdout_std'])} over the repeats; "
        f"{OBJECTIVE_LABELS[other]} {_number(row[f'holdout_{other}'])})"
    )
    return f"holdout {label} {scores}, validation {label} {row['validation_rmse']:.3f}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _baseline(args: argparse.Namespace) -> int:
    from tuner.data.preparation import prepare

    prepared = prepare(_data_source(args).load(), _preparation(args))
    rmse = prepared.persistence_rmse
    if args.json:
        print(
            json.dumps({"data": args.data, "test_size": prepared.n_test, "persistence_rmse": rmse})
        )
    else:
        print(
            f"{args.data}: persistence RMSE over the last {prepared.n_test} observations: "
            f"{rmse:.3f}"
        )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tuner.api import prepare_export
    from tuner.evaluation.runner import evaluate, load_and_prepare, plan

    if args.holdout and not args.file:
        raise ConfigError("--holdout needs an exported configurations FILE (from 'tuner export')")
    if args.file:
        config, prepared = prepare_export(args.file, args.rank, args.repeats, args.holdout)
    else:
        config = _evaluation_config(args)
        prepared = load_and_prepare(config)
    total = config.repeats * plan(prepared, config.hyperparameters).total_epochs
    with tqdm(
        total=total, desc="training", unit="epoch", file=sys.stderr, disable=args.no_progress
    ) as bar:
        evaluation = evaluate(prepared, config, progress=bar.update)
    print(json.dumps(evaluation.to_dict()) if args.json else _evaluation_table(evaluation))
    return 0


def _forecast(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from tuner.api import open_study, plan_forecast, run_forecast
    from tuner.outputs.export import load_export

    require_int("--rank", args.rank, 1)
    if args.horizon is not None:
        require_int("--horizon", args.horizon, 1)
    if args.repeats is not None:
        require_int("--repeats", args.repeats, 1)
    if (args.file is None) == (args.study is None):
        raise ConfigError("give an exported configurations FILE or --study NAME (one of them)")
    if args.file is not None:
        document, source = load_export(args.file), args.file
    else:
        _optuna_verbosity(quiet=True)
        _warn_of_visible_password(args)
        document = open_study(args.study, args.storage).export(args.rank)
        source = f"study {args.study!r}"
    output = Path(args.output or Path("storage") / "forecasts" / f"{document['study']}-{args.rank}")
    plan = plan_forecast(document, source, args.rank, args.horizon, args.repeats, output)
    with tqdm(
        total=plan.total_epochs,
        desc="refitting",
        unit="epoch",
        file=sys.stderr,
        disable=args.no_progress,
    ) as bar:
        result = run_forecast(plan, output, bar.update)
    print(_forecast_text(result, output))
    return 0


def _forecast_text(result: Forecast, output: Path) -> str:
    """What was refitted on which data, the forecast's mean and spread, and the files."""
    fitted = result.refit
    series = fitted.series
    table = result.table()[["date", "mean", "q05", "q95"]]
    return "\n".join(
        [
            f"refitted {fitted.config.repeats} repeat(s) on {fitted.n_rows} rows of "
            f"{series.name} ({len(series)} observations, {result.new_observations} new since "
            "the export)",
            table.to_string(index=False, float_format=lambda value: f"{value:.3f}"),
            f"wrote {output}: forecast.csv, forecast.png, preparation.json and "
            f"{len(fitted.weights)} Keras model(s)",
        ]
    )


def _export(args: argparse.Namespace) -> int:
    from tuner.outputs.export import dump_export, export_best
    from tuner.search.study import open_study

    require_int("--top", args.top, 1)
    study, _ = open_study(args.name, _storage_url(args))
    document = export_best(study, args.top)
    text = dump_export(document, args.format)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    _write_text(args.output, text)
    print(f"wrote {len(document['configurations'])} configuration(s) to {args.output}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tuner.outputs.report import write_report

    require_int("--top", args.top, 1)
    directory = Path(args.output or Path("storage") / "reports" / args.name)
    path = write_report(args.name, _storage_url(args), directory, args.top)
    print(f"wrote {path}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from optuna_dashboard import run_server

    from tuner.outputs.artifacts import open_artifact_store, resolve_artifact_dir
    from tuner.storage.database import mask, open_storage

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535; got {args.port}")
    url = _storage_url(args)
    storage = open_storage(url)
    store = open_artifact_store(resolve_artifact_dir(args.artifacts))
    print(
        f"optuna-dashboard for {mask(url)} at http://{args.host}:{args.port}/ (Ctrl-C stops it)",
        flush=True,
    )
    try:
        run_server(
            storage,
            host=args.host,
            port=args.port,
            artifact_store=store,
        )
    except OSError as error:
        raise ConfigError(
            f"cannot serve on {args.host}:{args.port}: {error.strerror}; choose another --port"
        ) from None
    return 0


def _proxy(args: argparse.Namespace) -> int:
    from tuner.distributed.proxy import start_proxy
    from tuner.storage.database import mask, proxy_address

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535; got {args.port}")
    url = _storage_url(args)
    if proxy_address(url) is not None:
        raise ConfigError(
            f"the proxy serves a database, not another proxy; got storage {url!r}, expected "
            "sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:port/db"
        )
    _optuna_verbosity(quiet=True)
    server = start_proxy(url, args.host, args.port)
    print(
        f"tuner proxy for {mask(url)} at grpc://{args.host}:{args.port} "
        "(workers: --storage grpc://HOST:PORT; Ctrl-C stops it)",
        flush=True,
    )
    try:
        server.wait_for_termination()
    finally:
        server.stop(grace=None)
    return 0


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise ConfigError(f"cannot write {path!r}: {error.strerror}") from None


def _data_source(args: argparse.Namespace) -> DataSource:
    from tuner.evaluation.runner import DataSource

    if args.data is None:
        raise ConfigError("--data is required: a built-in series (shampoo, airline) or a CSV path")
    return DataSource(args.data, args.date_column, args.value_column)


def _preparation(args: argparse.Namespace) -> Preparation:
    from tuner.data.preparation import Preparation

    return Preparation(lag=args.lag, test_size=args.test_size, train_size=args.train_size)


def _evaluation_config(args: argparse.Namespace) -> EvaluationConfig:
    from tuner.evaluation.runner import EvaluationConfig
    from tuner.method.protocol import Hyperparameters

    if args.data is None:
        raise ConfigError("give --data (a series) or an exported configurations FILE")
    return EvaluationConfig(
        source=_data_source(args),
        preparation=_preparation(args),
        hyperparameters=Hyperparameters(
            epochs=args.epochs,
            batch_size=args.batch_size,
            neurons=args.neurons,
            regime=args.regime,
            update_epochs=args.update_epochs,
            framing=args.framing,
            learning_rate=args.learning_rate,
            layers=args.layers,
        ),
        repeats=10 if args.repeats is None else args.repeats,
        seed=args.seed,
        engine=args.engine,
    )


def _evaluation_table(evaluation: Evaluation) -> str:
    config = evaluation.config.to_dict()
    settings = " ".join(f"{key}={value}" for key, value in config.items() if value is not None)
    rows = [
        f"{key:<8}{value:>12.0f}" if key == "count" else f"{key:<8}{value:>12.3f}"
        for key, value in evaluation.summary.items()
        if value is not None
    ]
    skill = evaluation.skill
    return "\n".join(
        [
            settings,
            f"test RMSE over {evaluation.config.repeats} repeats:",
            *rows,
            f"ensemble RMSE     {evaluation.ensemble_rmse:.3f}  (of the repeats' mean forecast)",
            f"persistence RMSE  {evaluation.persistence_rmse:.3f}",
            f"skill             {'n/a' if skill is None else f'{skill:.3f}'}"
            "  (1 - mean / persistence; above 0 beats persistence)",
            f"wall time         {evaluation.seconds:.1f} s",
        ]
    )
