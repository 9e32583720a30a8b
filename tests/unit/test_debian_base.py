"""The base image's recipe: the host's release and mirror, the hash that names the cache, and a failing
debootstrap reported with its output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import debian_base
from support.debian_base import BaseImageError, BaseSpec, host_mirror, host_release


def test_the_release_is_the_hosts_codename(tmp_path: Path) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="Debian GNU/Linux"\nVERSION_CODENAME=bookworm\nID=debian\n')
    assert host_release(os_release) == "bookworm"
    os_release.write_text('NAME="Something"\n')
    with pytest.raises(BaseImageError, match="VERSION_CODENAME"):
        host_release(os_release)


def test_the_mirror_is_the_hosts_apt_source_of_that_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(debian_base.MIRROR_ENV, raising=False)
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    assert host_mirror("bookworm", apt) == debian_base.DEFAULT_MIRROR
    (apt / "sources.list").write_text("deb [arch=amd64] http://mirror.example/debian bookworm main\n")
    assert host_mirror("bookworm", apt) == "http://mirror.example/debian"
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://deb822.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert host_mirror("bookworm", apt) == "http://deb822.example/debian"
    monkeypatch.setenv(debian_base.MIRROR_ENV, "http://override.example/debian")
    assert host_mirror("bookworm", apt) == "http://override.example/debian"


def test_the_hash_covers_release_packages_and_mirror() -> None:
    spec = BaseSpec(release="bookworm", mirror="http://deb.debian.org/debian")
    assert spec.tag == f"stigmer-e2e-base:{spec.content_hash[:12]}"
    assert BaseSpec(release="bookworm", mirror="http://deb.debian.org/debian").tag == spec.tag
    others = [
        BaseSpec(release="trixie", mirror=spec.mirror),
        BaseSpec(release="bookworm", mirror="http://mirror.example/debian"),
        BaseSpec(release="bookworm", mirror=spec.mirror, packages=(*spec.packages, "curl")),
    ]
    assert len({spec.tag, *(other.tag for other in others)}) == 4
    command = spec.debootstrap_command(Path("/target"))
    assert command[1:] == [
        "--variant=minbase",
        "--include=python3,python3-venv,ca-certificates",
        "bookworm",
        "/target",
        "http://deb.debian.org/debian",
    ]


def test_a_failing_debootstrap_is_reported_with_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "debootstrap"
    fake.write_text("#!/bin/sh\necho 'I: Retrieving InRelease'\necho 'E: Failed getting release file'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(debian_base, "find_tool", lambda name: str(fake))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    spec = BaseSpec(release="bookworm", mirror="http://unreachable.invalid/debian")
    with pytest.raises(BaseImageError) as raised:
        debian_base._debootstrap(spec, tmp_path / "rootfs", tmp_path / "log", timeout=60)
    assert "exited 1" in str(raised.value)
    assert "E: Failed getting release file" in str(raised.value)
