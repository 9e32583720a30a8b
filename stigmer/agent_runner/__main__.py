"""``python -m stigmer.agent_runner``: the agent-runner worker process."""

from stigmer.agent_runner.worker import main

if __name__ == "__main__":
    main()
