"""How to run: workers, local worker pools, the storage proxy, the compile cache."""

DEFAULT_PROXY_PORT = 13000
"""``tuner proxy``'s port: Optuna's default for its gRPC storage proxy. Here, not in
:mod:`tuner.distributed.proxy`, so that ``tuner --help`` shows it without loading gRPC."""
