"""Exceptions raised by lstm-tuner.

Every error a user can cause derives from :class:`TunerError`, so the command
line catches that one class, prints its one-line message and exits with status
2. A database failing mid-command (SQLAlchemy's or Optuna's storage errors) is
reported the same way (see :func:`tuner.storage.database.database_failure`). Anything
else escaping is a bug and keeps its traceback.
"""

__all__ = ["ConfigError", "DataError", "DivergedError", "StorageError", "TunerError"]


class TunerError(Exception):
    """Root of the errors a user can cause; the message is one line meant for them."""


class DataError(TunerError):
    """The series cannot be loaded or is unusable for the requested preparation.

    The message names the file (or built-in series), what was wrong and what is allowed.
    """


class ConfigError(TunerError):
    """A setting or hyperparameter breaks a rule.

    The message names the setting, the rule and the value received.
    """


class DivergedError(TunerError):
    """A fit diverged: some forecast is NaN or infinite, so no RMSE can be scored."""


class StorageError(TunerError):
    """The study database cannot be reached or used, or the study is not there.

    Messages show database URLs with the password masked.
    """
