"""The method every engine follows: regimes, shuffling, the network, the schedule, limits.

Defined in docs/method.md; nothing here knows of studies, storage or Optuna.
"""
