"""Built-in series shipped with the package (see :data:`tuner.data.BUILTIN_SERIES`)."""
