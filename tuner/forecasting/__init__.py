"""Forecasting with a chosen configuration: the refit, the recursive steps, the files."""
