"""Command line: ``python -m gancourse train|eval|course|exercises|execute``."""

from gancourse.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
