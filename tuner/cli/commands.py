"""The commands: each turns its options into an API call and prints what comes back.

Every command calls :mod:`tuner.api` for its work, so a notebook and the command
line run the same code. A stored study is named by a ``TunedStudy`` handle, whose
every method loads the study and refuses an unknown one, so no command opens it
twice. Heavy modules are imported inside the command that needs them, so
``tuner --help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tuner._checks import require_int
from tuner.cli.signals import sigterm_interrupts
from tuner.exceptions import ConfigError
from tuner.method.limits import MAX_HORIZON

if TYPE_CHECKING:
    from tuner.api import TunedPanel, TunedStudy
    from tuner.evaluation.config import EvaluationConfig
    from tuner.storage.url import DatabaseURL

__all__ = [
    "baseline",
    "confirm",
    "create",
    "dashboard",
    "evaluate",
    "export",
    "forecast",
    "init",
    "proxy",
    "report",
    "run",
    "status",
    "worker",
]


def init(args: argparse.Namespace) -> int:
    """``tuner init``: a first study file for a CSV, checked, with a comment on each choice."""
    from tuner import api  # every layer loads here, not at `tuner --help`

    path, draft = api.init_study(
        args.data,
        args.output,
        args.name,
        args.date_column,
        args.value_column,
        args.date_format,
    )
    print(f"wrote {path}: {draft.series.name}: {draft.summary()}")
    print(f"next: tuner run {path}")
    return 0


def baseline(args: argparse.Namespace) -> int:
    """``tuner baseline``: every baseline's scores on the test period, persistence first."""
    from tuner import api  # every layer loads here, not at `tuner --help`
    from tuner.cli.render import baselines_text

    if args.data is None:
        raise ConfigError("--data is required: a built-in series (shampoo, airline) or a CSV path")
    rmse, n_test = api.persistence_rmse(
        args.data,
        args.date_column,
        args.value_column,
        args.lag,
        args.test_size,
        args.train_size,
        args.date_format,
    )
    table = api.baselines(
        args.data, args.date_column, args.value_column, n_test, date_format=args.date_format
    )
    if args.json:
        rows = json.loads(table.to_json(orient="records"))
        print(
            json.dumps(
                {
                    "data": args.data,
                    "test_size": n_test,
                    "persistence_rmse": rmse,
                    "baselines": rows,
                }
            )
        )
    else:
        print(f"{args.data}: persistence RMSE over the last {n_test} observations: {rmse:.3f}")
        print(baselines_text(table))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``tuner evaluate``: fit a configuration (given by options, or exported) and score it."""
    from tuner import api  # every layer loads here, not at `tuner --help`
    from tuner.cli.progress import epoch_bar
    from tuner.cli.render import evaluation_text

    if args.holdout and not args.file:
        raise ConfigError("--holdout needs an exported configurations FILE (from 'tuner export')")
    if args.file:
        plan = api.plan_export_evaluation(args.file, args.rank, args.repeats, args.holdout)
    else:
        plan = api.plan_evaluation(_evaluation_config(args))
    with epoch_bar("training", plan.total_epochs, args.no_progress) as progress:
        evaluation = plan.run(progress)
    print(json.dumps(evaluation.to_dict()) if args.json else evaluation_text(evaluation))
    return 0


def forecast(args: argparse.Namespace) -> int:
    """``tuner forecast``: refit an exported or a study's configuration and forecast."""
    from tuner import api  # every layer loads here, not at `tuner --help`
    from tuner.cli.progress import epoch_bar
    from tuner.cli.render import forecast_text
    from tuner.outputs.export import load_export

    require_int("--rank", args.rank, 1)
    require_int("--workers", args.workers, 1)
    if args.horizon is not None:
        require_int("--horizon", args.horizon, 1, MAX_HORIZON)
    if args.repeats is not None:
        require_int("--repeats", args.repeats, 1)
    if (args.file is None) == (args.study is None):
        raise ConfigError("give an exported configurations FILE or --study NAME (one of them)")
    levels = tuple(args.level) if args.level else api.DEFAULT_LEVELS
    for level in levels:
        require_int("--level", level, 1, 99)
    if args.file is not None:
        _require_one_worker(args.workers)
        document, source = load_export(args.file), args.file
    else:
        _optuna_verbosity(quiet=True)
        study = api.open_study(args.study, _storage_url(args))
        if isinstance(study, api.TunedPanel):
            return _forecast_panel(study, args, levels)
        _require_one_worker(args.workers)
        document = study.export(args.rank)
        source = f"study {args.study!r}"
    # a string as given: '' must be refused, not read as Path('') (the current directory);
    # the default takes the export's study name, which load_export checked as one
    default = Path("storage") / "forecasts" / f"{document['study']}-{args.rank}"
    output = args.output if args.output is not None else default
    plan = api.plan_forecast(
        document, source, args.rank, args.horizon, args.repeats, output, levels
    )
    with epoch_bar("refitting", plan.total_epochs, args.no_progress) as progress:
        result = api.run_forecast(plan, output, progress)
    print(forecast_text(result, Path(output)))
    return 0


def _require_one_worker(workers: int) -> None:
    """Refuse ``--workers`` other than 1 where one configuration is refitted, in one process.

    Raises:
        ConfigError: ``workers`` is not 1.
    """
    if workers != 1:
        raise ConfigError(
            "--workers applies to a panel, whose series it forecasts side by side; one "
            f"configuration refits in one process (got --workers {workers})"
        )


def _forecast_panel(panel: TunedPanel, args: argparse.Namespace, levels: tuple[int, ...]) -> int:
    """``tuner forecast --study PANEL``: every series with its chosen forecaster, one table."""
    if args.rank != 1:
        raise ConfigError(
            "--rank applies to one study; a panel forecasts each series with the forecaster "
            f"it chose (got --rank {args.rank}); give --study {panel.name}.ID for one series"
        )
    default = Path("storage") / "forecasts" / panel.name
    output = args.output if args.output is not None else default
    frame = panel.forecast(args.horizon, args.repeats, output, levels=levels, workers=args.workers)
    chosen = frame.drop_duplicates("unique_id")["chosen"].value_counts()
    counts = ", ".join(f"{name} {count}" for name, count in chosen.items())
    print(
        f"wrote the forecasts of {chosen.sum()} series to {Path(output) / 'forecast.csv'} "
        f"(chosen on validation: {counts})"
    )
    return 0


def create(args: argparse.Namespace) -> int:
    """``tuner create``: create a study from a study file (idempotent)."""
    from tuner import api  # every layer loads here, not at `tuner --help`

    storage = _check_study_file_options(args)
    study, created = api.create_study(args.study_file, args.trials, storage, _print_skip)
    if isinstance(study, api.TunedPanel):
        count = len(study.studies())
        new = "some new" if created else "none new"
        print(f"panel {study.name!r}: {count} studies ({new}) in {study.url}")
        return 0
    print(f"study {study.name!r} {'created' if created else 'already exists'} in {study.url}")
    return 0


def _print_skip(unique_id: str, reason: str) -> None:
    """One line per series of a panel that cannot be tuned."""
    print(f"skipped series {unique_id!r}: {reason}", file=sys.stderr)


def worker(args: argparse.Namespace) -> int:
    """``tuner worker``: run trials of a study until its budget is met."""
    with sigterm_interrupts():  # from the first instant: imports take seconds
        from tuner import api  # every layer loads here, not at `tuner --help`

        _optuna_verbosity(quiet=args.quiet)
        url = _storage_url(args)
        _check_artifact_options(args)
        ran = api.run_worker(
            args.name,
            url,
            args.artifacts,
            save_artifacts=not args.no_artifacts,
            worker_index=args.worker_index,
        )
    if not args.quiet:
        print(f"worker finished: ran {ran} trial(s) of study {args.name!r}")
    return 0


def run(args: argparse.Namespace) -> int:
    """``tuner run``: create a study, run local workers to its budget, confirm it, show it."""
    with sigterm_interrupts():  # from the first instant: imports take seconds
        return _run_study(args)


def _run_study(args: argparse.Namespace) -> int:
    from tuner import api  # every layer loads here, not at `tuner --help`
    from tuner.cli.progress import STARTING_WORKERS, deferred_progress_bar

    require_int("--workers", args.workers, 1)
    _check_artifact_options(args)
    storage = _check_study_file_options(args)
    with contextlib.ExitStack() as bars:
        # opened once the study exists: a refusal before it is the only line printed
        trials = deferred_progress_bar(
            bars, "trials", "trial", args.no_progress, starting=STARTING_WORKERS
        )
        confirmation = deferred_progress_bar(
            bars, "confirming on the holdout", "configuration", args.no_progress
        )
        study, status = api.run_study(
            args.study_file,
            args.workers,
            args.trials,
            storage,
            args.artifacts,
            save_artifacts=not args.no_artifacts,
            on_trials=trials,
            on_confirmation=confirmation,
            on_skip=_print_skip,
        )
    print(_status_text(study))
    return status


def confirm(args: argparse.Namespace) -> int:
    """``tuner confirm``: score a study's best configurations on its holdout, once."""
    from tuner import api  # every layer loads here, not at `tuner --help`
    from tuner.cli.progress import deferred_progress_bar
    from tuner.cli.render import status_text

    _optuna_verbosity(quiet=True)
    study = api.TunedStudy(args.name, _storage_url(args))
    with contextlib.ExitStack() as bars:
        # opened by the first configuration: a refusal before it is the only line printed
        study.confirm(
            deferred_progress_bar(
                bars, "confirming on the holdout", "configuration", args.no_progress
            )
        )
    print(status_text(study.status()))
    return 0


def status(args: argparse.Namespace) -> int:
    """``tuner status``: a study's trials by state, best trial, findings and throughput."""
    from tuner import api  # every layer loads here, not at `tuner --help`

    study = api.open_study(args.name, _storage_url(args))
    if args.json:
        print(json.dumps(study.status().to_dict()))
    else:
        print(_status_text(study))
    return 0


def _status_text(study: TunedStudy | TunedPanel) -> str:
    """A study's status, or a panel's, as text."""
    from tuner import api
    from tuner.cli.render import panel_status_text, status_text

    if isinstance(study, api.TunedPanel):
        return panel_status_text(study.status())
    return status_text(study.status())


def export(args: argparse.Namespace) -> int:
    """``tuner export``: a study's best configurations, to a file or standard output."""
    from tuner import api  # every layer loads here, not at `tuner --help`
    from tuner.outputs.export import dump_export

    require_int("--top", args.top, 1)
    study = api.open_study(args.name, _storage_url(args))
    if args.output is None:
        sys.stdout.write(dump_export(study.export(args.top), args.format))
        return 0
    document = study.export(args.top, args.output, args.format)
    if isinstance(study, api.TunedPanel):
        print(f"wrote the configurations of {len(document['series'])} series to {args.output}")
        return 0
    print(f"wrote {len(document['configurations'])} configuration(s) to {args.output}")
    return 0


def report(args: argparse.Namespace) -> int:
    """``tuner report``: the Markdown report of a study, with its plots."""
    from tuner import api  # every layer loads here, not at `tuner --help`

    require_int("--top", args.top, 1)
    directory = Path(args.output or Path("storage") / "reports" / args.name)
    study = api.open_study(args.name, _storage_url(args))
    if isinstance(study, api.TunedPanel):
        path = study.report(directory)
    else:
        path = study.report(directory, args.top)
    print(f"wrote {path}")
    return 0


def dashboard(args: argparse.Namespace) -> int:
    """``tuner dashboard``: optuna-dashboard on the study database, until interrupted."""
    from tuner import api  # every layer loads here, not at `tuner --help`

    def serving(url: DatabaseURL) -> None:
        print(
            f"optuna-dashboard for {url} at http://{args.host}:{args.port}/ (Ctrl-C stops it)",
            flush=True,
        )

    api.serve_dashboard(_storage_url(args), args.host, args.port, args.artifacts, serving)
    return 0


def proxy(args: argparse.Namespace) -> int:
    """``tuner proxy``: serve the study database to workers, until interrupted."""
    from tuner import api  # every layer loads here, not at `tuner --help`

    url = _storage_url(args)
    _optuna_verbosity(quiet=True)
    security = api.ProxySecurity(args.tls_cert, args.tls_key, args.tls_client_ca, args.insecure)
    server = api.start_proxy(url, args.host, args.port, security)
    tls = "TLS" if args.tls_cert else "plaintext"
    print(
        f"tuner proxy for {url} at grpc://{args.host}:{args.port} ({tls}; "
        "workers: --storage grpc://HOST:PORT; Ctrl-C stops it)",
        flush=True,
    )
    try:
        server.wait_for_termination()
    finally:
        server.stop(grace=None)
    return 0


def _check_study_file_options(args: argparse.Namespace) -> DatabaseURL | None:
    """Check ``--trials`` by its option name; quiet Optuna; the ``--storage`` given, parsed."""
    if args.trials is not None:
        require_int("--trials", args.trials, 1)
    _optuna_verbosity(quiet=True)
    return _given_storage(args)


def _storage_url(args: argparse.Namespace) -> DatabaseURL:
    """The database URL (``--storage``, ``TUNER_STORAGE``, or the default), resolved once."""
    from tuner.storage.url import resolve_url  # SQLAlchemy: not at `tuner --help`

    return resolve_url(_given_storage(args))


def _given_storage(args: argparse.Namespace) -> DatabaseURL | None:
    """``--storage`` parsed, warning when it carries a password; ``None`` when not given.

    Every user of the machine can read a command line (``ps``), so a password on it
    is worth a warning.
    """
    from tuner.storage.url import ENVIRONMENT_VARIABLE, DatabaseURL  # SQLAlchemy: as above

    if not args.storage:
        return None
    url = DatabaseURL.parse(args.storage)
    if url.has_password:
        logging.getLogger("tuner").warning(
            "--storage carries a password, which 'ps' shows to every user of this machine; "
            "set %s instead",
            ENVIRONMENT_VARIABLE,
        )
    return url


def _check_artifact_options(args: argparse.Namespace) -> None:
    if args.no_artifacts and args.artifacts:
        raise ConfigError("give --artifacts DIR or --no-artifacts, not both")


def _optuna_verbosity(quiet: bool) -> None:
    import optuna  # not at `tuner --help`

    optuna.logging.set_verbosity(optuna.logging.WARNING if quiet else optuna.logging.INFO)


def _evaluation_config(args: argparse.Namespace) -> EvaluationConfig:
    from tuner.data.preparation import Preparation  # scikit-learn, SciPy: not at --help
    from tuner.data.source import DataSource
    from tuner.evaluation.config import EvaluationConfig
    from tuner.method.protocol import Hyperparameters

    if args.data is None:
        raise ConfigError("give --data (a series) or an exported configurations FILE")
    return EvaluationConfig(
        source=DataSource(
            args.data, args.date_column, args.value_column, date_format=args.date_format
        ),
        preparation=Preparation(lag=args.lag, test_size=args.test_size, train_size=args.train_size),
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
