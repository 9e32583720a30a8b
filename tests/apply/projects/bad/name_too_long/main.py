"""An agent name of 64 characters (at most 63 are allowed)."""

import stigmer
from stigmer import Agent


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="a" * 64, model="llama3.2:1b", instructions="Review code."))


if __name__ == "__main__":
    stigmer.synthesize(main)
