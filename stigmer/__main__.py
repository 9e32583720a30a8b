"""``python -m stigmer``: the same as the ``stigmer`` command (the daemon starts the server this way)."""

from stigmer.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
