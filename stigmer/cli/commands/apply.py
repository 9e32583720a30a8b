"""``stigmer apply``: synthesize a project and deploy its agents and workflows in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from stigmer.cli.environment import Environment
from stigmer.cli.options import JSON, output_option

ACTIONS = {0: "Unspecified", 1: "Created", 2: "Updated", 3: "Unchanged"}


@click.command(
    "apply",
    epilog="""\b
Examples:
  stigmer apply                              # the project in the current folder
  stigmer apply --config examples/01_basic_agent --dry-run
  stigmer apply -o json | jq '.results[].id'""",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Project folder, or its Stigmer.yaml.",
)
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; persist nothing.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds the project's entry point may run before it is stopped.",
)
@output_option
@click.pass_obj
def apply_command(env: Environment, config_path: Path, dry_run: bool, timeout: float, output: str) -> None:
    """Deploy the agents and workflows a project defines.

    Runs the project's entry point (Stigmer.yaml `main`) with this CLI's Python to synthesize its
    resources, validates them, and sends them to stigmer-server in one all-or-nothing apply.
    Re-applying unchanged resources reports them as Unchanged.
    """
    from stigmer.api.v1.apply_pb2 import ApplyRequest
    from stigmer.cli.client import connect
    from stigmer.cli.output import spinner
    from stigmer.cli.project import load_project
    from stigmer.cli.synthesis import synthesize
    from stigmer.cli.validate import validate_synthesis

    project = load_project(config_path)
    synthesis = synthesize(project, timeout=timeout, echo=env.stderr, environ=env.environ)
    validate_synthesis(synthesis)
    request = ApplyRequest(agents=synthesis.agents, workflows=synthesis.workflows, dry_run=dry_run)
    with connect(env) as client, spinner(env, "Applying" if not dry_run else "Checking"):
        response = client.apply.Apply(request, timeout=client.timeout)
    report = apply_report(response, [w.spec.namespace for w in request.workflows])
    if output == JSON:
        from stigmer.cli.output import to_json

        env.out(to_json(report))
    else:
        env.out(apply_text(report))


def apply_report(response: Any, namespaces: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON report: ``{"dry_run", "results": [{"kind","name","action","id"}], "agents", "workflows"}``.

    ``namespaces`` are those of the applied workflows, in request order (the server reports the
    workflows in that order, after the agents): a workflow's ``name`` is then ``namespace/name``.
    """
    workflow_namespaces = iter(namespaces)
    results = []
    for r in response.results:
        name = r.name
        if r.kind == "workflow" and "/" not in name:
            namespace = next(workflow_namespaces, "")
            name = f"{namespace}/{name}" if namespace else name
        results.append({"kind": r.kind, "name": name, "action": ACTIONS.get(r.action, str(r.action)), "id": r.id})
    return {
        "dry_run": response.dry_run,
        "results": results,
        "agents": sum(1 for r in results if r["kind"] == "agent"),
        "workflows": sum(1 for r in results if r["kind"] == "workflow"),
    }


def apply_text(report: dict[str, Any]) -> str:
    """The text report: headline, a TYPE/NAME/ACTION/ID table, and the counts."""
    from stigmer.cli.output import table

    dry_run = report["dry_run"]
    rows = [(r["kind"], r["name"], r["action"], r["id"]) for r in report["results"]]
    counts = f"{report['agents']} agent(s), {report['workflows']} workflow(s)"
    return "\n".join(
        [
            "Dry run successful" if dry_run else "Deployment successful",
            "",
            table(("TYPE", "NAME", "ACTION", "ID"), rows),
            "",
            f"Would deploy: {counts}" if dry_run else f"Deployed: {counts}",
        ]
    )
