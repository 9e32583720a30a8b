"""The files of a new project (``stigmer new``): Stigmer.yaml, main.py with a basic agent, a README."""

from __future__ import annotations

from pathlib import Path

from stigmer.cli.errors import CliError

STIGMER_YAML = """\
name: {name}
runtime: python
main: main.py
version: 0.1.0
"""

MAIN_PY = '''\
"""The {name} project: `stigmer apply` runs this file to learn which agents to deploy."""

import stigmer
from stigmer import Agent


def main(ctx: stigmer.Context) -> None:
    """Declare the project's agents (and workflows) and add them to the context."""
    agent = Agent(
        name="{name}",
        model="{model}",
        description="A helpful assistant",
        instructions="You are a helpful assistant. Answer clearly and briefly.",
    )
    ctx.add(agent)


if __name__ == "__main__":
    stigmer.synthesize(main)
'''

README_MD = """\
# {name}

A Stigmer project with one agent, `{name}`, defined in `main.py`.

```sh
stigmer server start            # start the local stack (once)
stigmer apply                   # deploy the agent (run it again after each change)
stigmer run {name} -m "Hello"   # talk to it
```

Edit `main.py` to change the agent's instructions or model, add skills, MCP servers, or workflows.
"""


def scaffold_project(parent: Path, name: str, model: str) -> Path:
    """Write the project ``parent/name``; refuse to touch an existing non-empty folder."""
    root = parent / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise CliError(f"{root} already exists and is not empty; choose another name or --dir")
    root.mkdir(parents=True, exist_ok=True)
    values = {"name": name, "model": model}
    files = {"Stigmer.yaml": STIGMER_YAML, "main.py": MAIN_PY, "README.md": README_MD}
    for filename, template in files.items():
        (root / filename).write_text(template.format(**values))
    return root
