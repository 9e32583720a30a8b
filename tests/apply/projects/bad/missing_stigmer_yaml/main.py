"""A valid entry point: it would change the seeded agent if the project around it were valid."""

import stigmer
from stigmer import Agent


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="seed-agent", model="llama3.2:1b", instructions="Stay as you are.", description="changed"))


if __name__ == "__main__":
    stigmer.synthesize(main)
