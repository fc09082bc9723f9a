"""The ``tuner`` command: a thin layer that parses options, calls the API and prints.

:mod:`tuner.cli.parser` holds every subcommand and its options,
:mod:`tuner.cli.commands` what each does (one call of :mod:`tuner.api`), and
:mod:`tuner.cli.render` how results are printed. A
:class:`~tuner.exceptions.TunerError` becomes one line on stderr and exit
status 2; heavy libraries are imported only inside the command that needs them,
so ``tuner --help`` is instant.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence

from tuner.cli.parser import EXIT_USAGE, build_parser
from tuner.exceptions import TunerError

__all__ = ["build_parser", "main"]

EXIT_INTERRUPTED = 130


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
        from tuner.storage.failures import database_failure  # SQLAlchemy: only on a failure

        failure = database_failure(error)
        if failure is None:
            raise
        print(f"tuner {args.command}: error: {failure}", file=sys.stderr)
        return EXIT_USAGE
