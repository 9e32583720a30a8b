"""An agent name that is not a slug."""

import stigmer
from stigmer import Agent


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="Code_Reviewer", model="llama3.2:1b", instructions="Review code."))


if __name__ == "__main__":
    stigmer.synthesize(main)
