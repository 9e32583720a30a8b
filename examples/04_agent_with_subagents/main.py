"""Example 04: an agent with sub-agents.

A research lead delegates to two inline sub-agents (which may use the lead's skills and MCP
servers, by name) and to another agent of the project, referenced with ``SubAgent.ref``.
"""

import os

import stigmer
from stigmer import Agent, McpServer, Skill, SubAgent

MODEL = os.environ.get("STIGMER_LLM_MODEL", "llama3.2:1b")
SEARCH_MCP_URL = os.environ.get("SEARCH_MCP_URL", "https://mcp.example.com/search")

RESEARCH_METHODS = """# Research methods

- Prefer primary sources to summaries.
- Record the URL and access date of every source.
- Say how confident you are in each finding.
"""


def main(ctx: stigmer.Context) -> None:
    formatter = ctx.add(
        Agent(
            name="citation-formatter",
            description="Formats sources as a reference list",
            instructions="Format the sources you are given as a numbered reference list in APA style.",
            model=MODEL,
        )
    )
    ctx.add(
        Agent(
            name="research-lead",
            description="Plans research and delegates the details",
            instructions=(
                "Answer research questions. Delegate checking claims to fact-checker, condensing findings "
                "to summarizer and formatting the sources to citation-formatter."
            ),
            model=MODEL,
            skills=[Skill(name="research-methods", markdown=RESEARCH_METHODS)],
            mcp_servers=[McpServer.http("web-search", url=SEARCH_MCP_URL)],
            sub_agents=[
                SubAgent(
                    name="fact-checker",
                    description="Verifies claims against primary sources",
                    instructions="Check every claim against two independent sources; list those you cannot confirm.",
                    model=MODEL,
                    skills=["research-methods"],
                    mcp_servers=["web-search"],
                ),
                SubAgent(
                    name="summarizer",
                    description="Condenses findings",
                    instructions="Summarize the findings in at most five bullet points.",
                ),
                SubAgent.ref(formatter),
            ],
        )
    )


if __name__ == "__main__":
    stigmer.synthesize(main)
