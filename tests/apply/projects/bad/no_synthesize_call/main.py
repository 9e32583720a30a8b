"""An entry point that declares an agent but never calls stigmer.synthesize."""

import stigmer
from stigmer import Agent


def main(ctx: stigmer.Context) -> None:
    ctx.add(Agent(name="seed-agent", model="llama3.2:1b", instructions="Stay as you are.", description="changed"))


if __name__ == "__main__":
    print("forgot to synthesize")
