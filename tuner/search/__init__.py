"""What to try and what is stored: study files, the space, the objective, studies.

Depends on :mod:`tuner.storage`, :mod:`tuner.evaluation` and everything below them.
"""
