"""The study storage itself: what importing it needs, and how SQLite journals."""

from __future__ import annotations

import contextlib


def test_storage_imports_without_fcntl_or_the_study_file_schema():
    import subprocess
    import sys

    probe = (
        "import sys; sys.modules['fcntl'] = None\n"  # as on Windows
        "import tuner.storage.database\n"
        "assert 'tuner.search.studyfile' not in sys.modules\n"
        "import tuner.search.study, tuner.outputs.export, tuner.outputs.report\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_sqlite_studies_are_journalled_ahead(tmp_path):
    """Commits append to a write-ahead log instead of syncing a rollback journal each time."""
    import sqlite3

    from tuner.storage.database import open_storage

    database = tmp_path / "tuner.db"
    open_storage(f"sqlite:///{database}").engine.dispose()
    with contextlib.closing(sqlite3.connect(database)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
