"""``python -m stigmer.workflow_runner``: run the workflow-runner worker (logs to stderr)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("STIGMER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from stigmer import secret_logs

    secret_logs.install()
    from stigmer.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"workflow-runner: {exc}", file=sys.stderr)
        sys.exit(2)

    from stigmer.workflow_runner.worker import RunnerConfig
    from stigmer.workflow_runner.worker import main as run

    ready = os.environ.get("STIGMER_READY_FILE")
    run(
        RunnerConfig(
            home=settings.home,
            server_addr=settings.server_addr,
            temporal_addr=settings.temporal_addr,
            ready_path=Path(ready) if ready else None,
        )
    )


if __name__ == "__main__":
    main()
