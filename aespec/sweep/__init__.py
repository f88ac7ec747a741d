"""The sweep stage: a grid of `--set` values run as ordinary runs, then compared."""
