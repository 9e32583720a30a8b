"""``python -m stigmer.workflow_runner``: run the workflow-runner worker (logs to stderr)."""

from __future__ import annotations

import logging
import os


def main() -> None:
    from stigmer.config import load_settings
    from stigmer.workflow_runner.worker import RunnerConfig
    from stigmer.workflow_runner.worker import main as run

    logging.basicConfig(
        level=os.environ.get("STIGMER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = load_settings()
    run(RunnerConfig(home=settings.home, server_addr=settings.server_addr, temporal_addr=settings.temporal_addr))


if __name__ == "__main__":
    main()
