"""``python -m paykit``: the same command line as the ``paykit`` console script."""

from paykit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
