"""Agents and a workflow for the real small model (``--llm=local``): instructions short and direct, as a
135M model needs them. A plain answer, a tool call to the docs-search MCP server, a lead that delegates
to a sub-agent, and a workflow whose agent_call answer flows into the next task."""

import os

import stigmer
from stigmer import Agent, McpServer, SubAgent, Workflow, expr, tasks

MODEL = os.environ.get("STIGMER_LLM_MODEL", "smollm2:135m")
DOCS_MCP_URL = os.environ.get("DOCS_MCP_URL", "https://mcp.example.com/docs")


def main(ctx: stigmer.Context) -> None:
    ctx.add(
        Agent(
            name="plain-answerer",
            description="Answers in a few sentences",
            instructions="Answer the question in two or three sentences.",
            model=MODEL,
        )
    )
    finder = ctx.add(
        Agent(
            name="doc-finder",
            description="Finds documentation",
            instructions=(
                "You find documentation. Always call search_docs with the user's words as the query, "
                "then reply with the url from its result."
            ),
            model=MODEL,
            mcp_servers=[McpServer.http("docs-search", url=DOCS_MCP_URL, enabled_tools=["search_docs"])],
        )
    )
    ctx.add(
        Agent(
            name="docs-lead",
            description="Delegates documentation questions",
            instructions="Always call doc-finder with the user's question, then reply with what it found.",
            model=MODEL,
            sub_agents=[SubAgent.ref(finder)],
        )
    )
    summarizer = ctx.add(
        Agent(
            name="ticket-summarizer",
            description="Summarizes support tickets",
            instructions="Summarize the support ticket in one sentence.",
            model=MODEL,
        )
    )
    workflow = Workflow(name="summarize-ticket", namespace="real-model", version="1.0.0")
    workflow.add(
        tasks.set_vars("ticket", {"text": "The export button does nothing since the last update."}),
        tasks.agent_call("summarize", agent=summarizer, message=expr('"Summarize this ticket: " + .ticket.text')),
        tasks.set_vars("result", {"summary": expr(".summarize")}),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
