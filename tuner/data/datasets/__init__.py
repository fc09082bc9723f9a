"""Built-in series shipped with the package (see :data:`tuner.data.series.BUILTIN_SERIES`)."""
