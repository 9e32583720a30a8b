"""A workflow that puts secrets where logs like to print them: a query string, a URL path, an HTTP
Basic ``Authorization`` header (base64 of ``robot:PASSWORD``) and a query value that must be URL-encoded."""

import os

import stigmer
from stigmer import EnvVar, Workflow, env_ref, tasks

STATUS_API_BASE = os.environ.get("STATUS_API_BASE", "https://status.example.com")


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(
        name="secret-forms",
        namespace="e2e",
        version="1.0.0",
        description="Secrets in a query, a path, Basic auth and an encoded query value",
        env=[
            EnvVar("QUERY_TOKEN", secret=True, required=True),
            EnvVar("PATH_TOKEN", secret=True, required=True),
            EnvVar("BASIC_PASSWORD", secret=True, required=True),
            EnvVar("ODD_TOKEN", secret=True, required=True),
        ],
    )
    workflow.add(
        tasks.http_get(
            "by-query",
            endpoint=f"{STATUS_API_BASE}/v1/echo",
            query={"page": "1", "token": env_ref("QUERY_TOKEN"), "odd": env_ref("ODD_TOKEN")},
        ),
        tasks.http_get("by-path", endpoint=f"{STATUS_API_BASE}/v1/items/{env_ref('PATH_TOKEN')}"),
        tasks.http_get(
            "by-basic-auth",
            endpoint=f"{STATUS_API_BASE}/v1/private",
            headers={"Authorization": '${ "Basic " + ("robot:" + $env.BASIC_PASSWORD | @base64) }'},
        ),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
