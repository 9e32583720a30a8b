"""The entry point fails before it declares anything."""

import stigmer


def main(ctx: stigmer.Context) -> None:
    raise RuntimeError("the entry point broke on purpose")


if __name__ == "__main__":
    stigmer.synthesize(main)
