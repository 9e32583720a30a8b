"""``python -m stigmer.agent_runner``: the agent-runner worker process.

A SIGTERM that arrives while the heavy imports run (nothing started yet) ends the process at once,
with exit code 0; the worker installs its own graceful handlers when it starts.
"""

import os
import signal


def _stop_before_start(signum: int, frame: object) -> None:
    os._exit(0)


def main() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_before_start)
    from stigmer.agent_runner.worker import main as run_worker

    run_worker()


if __name__ == "__main__":
    main()
