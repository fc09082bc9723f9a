"""``python -m tuner`` runs the command line."""

import sys

from tuner.cli import main

sys.exit(main())
