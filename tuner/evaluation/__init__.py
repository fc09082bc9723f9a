"""Scoring a configuration: repeats under walk-forward validation, metrics, baselines.

Depends on :mod:`tuner.data`, :mod:`tuner.method` and :mod:`tuner.engines`; knows
nothing of Optuna or storage.
"""
