"""How to run: workers, local worker pools, the storage proxy, the compile cache."""
