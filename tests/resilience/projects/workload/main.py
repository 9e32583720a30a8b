"""The resilience tier's workload: one agent with a workspace tool and an MCP server, and a workflow
that uses every kind of task a fault can interrupt.

``job`` (a workflow, input ``{"token": "..."}``): an HTTP POST, a durable wait, a ``for`` of POSTs, a
``fork`` of a POST and a set, an ``agent_call`` of ``worker`` and a ``run`` of ``child`` (itself a POST).
Every POST carries the token in its body, so the HTTP fixture can tell whose side effect it saw.
"""

import os

import stigmer
from stigmer import Agent, McpServer, Workflow, expr, tasks

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
API = os.environ.get("SHOP_API_BASE", "https://shop.example.com")
DOCS_MCP_URL = os.environ.get("DOCS_MCP_URL", "https://mcp.example.com/docs")
WAIT_SECONDS = int(os.environ.get("RESILIENCE_WAIT_SECONDS", "3"))


def main(ctx: stigmer.Context) -> None:
    worker = ctx.add(
        Agent(
            name="resilience-worker",
            description="Writes a note to the workspace and searches the docs",
            instructions="Resilience worker: write the job's note, search the docs for it, then answer.",
            model=MODEL,
            mcp_servers=[McpServer.http("docs-search", url=DOCS_MCP_URL, timeout_seconds=30)],
        )
    )
    child = Workflow(name="child", namespace="resilience", version="1.0.0", description="One POST")
    child.add(
        tasks.http_post("record", endpoint=f"{API}/v1/child", body={"token": expr(".token")}),
        tasks.set_vars("done", {"token": expr(".token")}),
    )
    ctx.add(child)
    job = Workflow(name="job", namespace="resilience", version="1.0.0", description="Every kind of task")
    job.add(
        tasks.http_post("start", endpoint=f"{API}/v1/start", body={"token": expr(".token")}),
        tasks.wait("hold", duration=WAIT_SECONDS),
        tasks.for_each(
            "items",
            in_="[1, 2]",
            do=[tasks.http_post("item", endpoint=f"{API}/v1/item", body={"token": expr(".token"), "n": expr("$item")})],
        ),
        tasks.fork(
            "both",
            branches=[
                tasks.http_post("left", endpoint=f"{API}/v1/left", body={"token": expr(".token")}),
                tasks.set_vars("right", {"side": "right"}),
            ],
        ),
        tasks.agent_call("ask", agent=worker, message=expr('"job " + .token')),
        tasks.run_workflow("sub", child, input={"token": expr(".token")}),
        tasks.set_vars("result", {"token": expr(".token"), "answer": expr(".ask")}),
    )
    ctx.add(job)


if __name__ == "__main__":
    stigmer.synthesize(main)
