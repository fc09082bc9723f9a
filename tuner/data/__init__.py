"""Series in: loading a built-in series or a CSV file, and preparing it for an LSTM.

The lowest layer beside :mod:`tuner.method`: it depends on nothing of tuner's but
the exceptions and argument checks.
"""
