"""Generate the Python stubs of the API from the .proto files (`nox -s protos`)."""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

API_DIR = Path(__file__).resolve().parent / "v1"
SOURCE_ROOT = API_DIR.parents[2]
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    return sorted(API_DIR.glob("*.proto"))


def generate(out_root: Path) -> list[Path]:
    """Run protoc over every .proto file, writing the stubs below `out_root`."""
    from grpc_tools import protoc

    include = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{SOURCE_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(str(p.relative_to(SOURCE_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    out_dir = out_root / API_DIR.relative_to(SOURCE_ROOT)
    return sorted(p for p in out_dir.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def stale_stubs() -> list[str]:
    """Names of committed stubs that differ from a fresh generation (empty when current)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        committed = {p.name for p in API_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}
        names = {p.name for p in fresh}
        stale = sorted(committed ^ names)
        for path in fresh:
            target = API_DIR / path.name
            if target.exists() and not filecmp.cmp(path, target, shallow=False):
                stale.append(path.name)
        return sorted(set(stale))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            shutil.copyfile(path, API_DIR / path.name)
            print(f"generated {API_DIR.relative_to(SOURCE_ROOT) / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
