"""What the tests share besides fixtures: plain functions, constants, harnesses.

Fixtures live in ``tests/conftest.py``, which pytest loads by itself; everything a
test module imports comes from here, so that no test imports conftest, another
test module or a benchmark (the benchmarks may import from here).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository: tests read its studies/, README.md, docs/, Dockerfile and datasets."""
