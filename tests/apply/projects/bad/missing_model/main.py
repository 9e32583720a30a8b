"""An agent without a model."""

import stigmer
from stigmer import Agent


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="no-model", model="", instructions="Review code."))


if __name__ == "__main__":
    stigmer.synthesize(main)
