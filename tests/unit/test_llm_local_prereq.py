"""Whether the local model can run here, and the four-part message when it cannot."""

from __future__ import annotations

from pathlib import Path

from support.llm import local_prerequisite
from support.llm_local.model_file import cpu_has_avx2, unavailable_reason
from support.prereqs import missing_message


def test_avx2_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu sse2 avx avx2 fma\n")
    assert cpu_has_avx2(cpuinfo) is True
    cpuinfo.write_text("processor : 0\nflags : fpu sse2 avx\n")
    assert cpu_has_avx2(cpuinfo) is False
    assert cpu_has_avx2(tmp_path / "absent") is None


def test_a_cpu_without_avx2_is_a_skip_with_the_four_parts(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu sse2 avx\n")
    reason = unavailable_reason(cpuinfo)
    if reason is None or "AVX2" not in reason:  # without the extra, that is what is missing first
        assert reason is not None and "not installed" in reason, reason
    finding = local_prerequisite(reason)
    present, detail = finding.check(None)  # type: ignore[arg-type]
    assert (present, detail) == (False, reason)

    message = missing_message(finding, detail).splitlines()

    assert message[0].startswith("Missing: the local model") and message[0].endswith(str(reason))
    assert message[1].startswith("Needed by: the full tier with --llm=local")
    assert message[2] == "Provide it:" and "nox -s full -- --llm=local" in message[3]
    assert message[-1] == "Without it: use the deterministic stand-in: nox -s full -- --llm=standin"
