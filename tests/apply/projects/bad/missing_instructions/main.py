"""An agent without instructions."""

import stigmer
from stigmer import Agent


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="no-instructions", model="llama3.2:1b", instructions=""))


if __name__ == "__main__":
    stigmer.synthesize(main)
