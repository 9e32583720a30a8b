"""``stigmer new``: scaffold a project whose ``stigmer apply`` works out of the box."""

from __future__ import annotations

from pathlib import Path

import click

from stigmer.cli.environment import Environment


def _name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from stigmer.api.validation import slug_problems

    problems = slug_problems("NAME", value)
    if problems:
        raise click.BadParameter(problems[0].message, ctx=ctx, param=param)
    return value


@click.command(
    "new",
    epilog="""\b
Examples:
  stigmer new my-agent
  stigmer new support-bot --dir ~/projects && cd ~/projects/support-bot && stigmer apply""",
)
@click.argument("name", callback=_name)
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to create the project in.",
)
@click.pass_obj
def new_command(env: Environment, name: str, parent: Path) -> None:
    """Create a new project with one basic agent.

    Writes NAME/ with Stigmer.yaml, main.py (an agent called NAME) and a README.

    NAME is also the agent's name: lower-case letters, digits and '-'. Refuses to write into an
    existing non-empty folder.
    """
    from stigmer.cli.scaffold import scaffold_project
    from stigmer.config import DEFAULT_LLM_MODEL

    root = scaffold_project(parent, name, model=env.settings.llm_model or DEFAULT_LLM_MODEL)
    env.out(f"Created project {name} in {root}")
    env.out("")
    env.out("Next steps:")
    env.out(f"  cd {root}")
    env.out("  stigmer server start")
    env.out("  stigmer apply")
    env.out(f'  stigmer run {name} -m "Hello"')
