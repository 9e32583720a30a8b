"""The committed gRPC stubs match the .proto files (regenerate with `nox -s protos`).

Compared byte for byte: grpcio-tools is pinned exactly (pyproject.toml, dev extra), so only a proto change
or a deliberate bump of that pin, committed with its regenerated stubs, can change them.
"""

from stigmer.api import codegen


def test_committed_stubs_match_the_protos() -> None:
    stale = codegen.stale_stubs()
    assert not stale, f"stale generated stubs {stale}: run `nox -s protos` and commit the result"


def test_every_proto_has_its_stubs() -> None:
    names = {p.stem for p in codegen.proto_files()}
    assert names >= {"agent", "workflow", "apply", "execution", "common"}
    for name in names:
        for suffix in codegen.GENERATED_SUFFIXES:
            assert (codegen.API_DIR / f"{name}{suffix}").is_file(), f"{name}{suffix} missing"
