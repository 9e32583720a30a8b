"""The entry point runs but declares no agent and no workflow."""

import stigmer


def main(ctx: stigmer.Context) -> None:
    print("declaring nothing")


if __name__ == "__main__":
    stigmer.synthesize(main)
