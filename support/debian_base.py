"""The base image, built offline: a debootstrap of the host's Debian release, imported into the engine.

No image can be pulled, so the base is made here: ``debootstrap --variant=minbase
--include=python3,python3-venv,ca-certificates <release> <dir> <mirror>`` (root; about 80 s), packed as
a tar in the persistent cache (``support.build_cache``), and imported through the SDK as
``stigmer-e2e-base:<hash12>``. The hash covers the release, the package list, the variant and the
mirror, so a second run with a fresh engine only imports the cached tar. The release is the host's
(``VERSION_CODENAME`` of /etc/os-release), so the image's Python has the ABI of the host's wheels; the
mirror is ``$STIGMER_E2E_DEBIAN_MIRROR``, else the host's own apt source for that release.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import docker

from support.build_cache import cache_dir, cache_lock, progress
from support.docker_host import find_tool
from support.mounts import remove_tree
from support.processes import kill_tree

BASE_REPOSITORY = "stigmer-e2e-base"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
MIRROR_ENV = "STIGMER_E2E_DEBIAN_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_TIMEOUT = 1200.0
# Bump when the way the rootfs is made changes (so cached tars are rebuilt).
RECIPE = "1"
# debootstrap prints these once per package: too many lines to show as progress
_PER_PACKAGE = ("I: Retrieving", "I: Validating", "I: Extracting", "I: Unpacking", "I: Configuring")


class BaseImageError(Exception):
    """The base image could not be made; the message says why and carries the end of the output."""


@dataclass(frozen=True)
class BaseSpec:
    """What the base image is made of; its hash names the cached tar and the image tag."""

    release: str
    mirror: str
    packages: tuple[str, ...] = BASE_PACKAGES
    variant: str = "minbase"

    @property
    def content_hash(self) -> str:
        text = f"{RECIPE}\n{self.release}\n{self.mirror}\n{self.variant}\n{','.join(sorted(self.packages))}"
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def tag(self) -> str:
        return f"{BASE_REPOSITORY}:{self.content_hash[:12]}"

    def debootstrap_command(self, target: Path) -> list[str]:
        tool = find_tool("debootstrap") or "debootstrap"
        include = ",".join(self.packages)
        return [tool, f"--variant={self.variant}", f"--include={include}", self.release, str(target), self.mirror]


def host_release(os_release: Path = Path("/etc/os-release")) -> str:
    """The host's release codename (``bookworm``); ``BaseImageError`` when it is not a Debian-like system."""
    try:
        text = os_release.read_text()
    except OSError as exc:
        raise BaseImageError(f"cannot read {os_release}: {exc}") from None
    match = re.search(r"^VERSION_CODENAME=\"?([a-z0-9-]+)\"?$", text, re.MULTILINE)
    if not match:
        raise BaseImageError(f"{os_release} names no VERSION_CODENAME: debootstrap needs a Debian release name")
    return match.group(1)


def host_mirror(release: str, apt_dir: Path = Path("/etc/apt")) -> str:
    """``$STIGMER_E2E_DEBIAN_MIRROR``, else the first apt source of ``release`` on the host, else Debian's."""
    configured = os.environ.get(MIRROR_ENV)
    if configured:
        return configured
    for sources in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", _read(sources)):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.+)$", stanza, re.MULTILINE))
            if "deb" in fields.get("Types", "").split() and release in fields.get("Suites", "").split():
                return fields.get("URIs", DEFAULT_MIRROR).split()[0]
    for list_file in [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]:
        match = re.search(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{re.escape(release)}\s", _read(list_file), re.MULTILINE)
        if match:
            return match.group(1)
    return DEFAULT_MIRROR


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def default_spec() -> BaseSpec:
    release = host_release()
    return BaseSpec(release=release, mirror=host_mirror(release))


def rootfs_tar(spec: BaseSpec, timeout: float = DEBOOTSTRAP_TIMEOUT) -> Path:
    """The cached rootfs tar of ``spec``, made with debootstrap when it is not cached yet."""
    cache = cache_dir()
    name = f"base-{spec.content_hash[:12]}"
    target = cache / f"{name}.tar"
    if target.is_file():
        progress(f"base rootfs cached: {target} ({target.stat().st_size / 1e6:.0f} MB)")
        return target
    with cache_lock(name):
        if target.is_file():
            return target
        work = cache / f"{name}.work-{os.getpid()}"
        remove_tree(work)
        try:
            _debootstrap(spec, work / "rootfs", work / "debootstrap.log", timeout)
            partial = work / "rootfs.tar"
            _pack(work / "rootfs", partial)
            partial.replace(target)
        finally:
            remove_tree(work)
    return target


def _debootstrap(spec: BaseSpec, rootfs: Path, log: Path, timeout: float) -> None:
    if os.geteuid() != 0:
        raise BaseImageError(f"debootstrap needs root (running as uid {os.geteuid()}): run the session as root")
    rootfs.mkdir(parents=True)
    command = spec.debootstrap_command(rootfs)
    progress(f"debootstrap of {spec.release} from {spec.mirror} (about 80 s; cold cache): {' '.join(command)}")
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        # the whole tree (dpkg in the chroot too) is killed when time runs out; reading then ends
        watchdog = threading.Timer(timeout, kill_tree, (process.pid,))
        watchdog.start()
        try:
            for line in process.stdout:
                out.write(line)
                if not line.startswith(_PER_PACKAGE):
                    progress(f"  debootstrap: {line.rstrip()}")
            code = process.wait()
        finally:
            watchdog.cancel()
            kill_tree(process.pid)
            process.wait()
    elapsed = time.monotonic() - started
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        what = f"was killed after {timeout:g}s" if elapsed >= timeout else f"exited {code}"
        raise BaseImageError(f"debootstrap {what}; last lines of its output:\n{tail}")
    progress(f"debootstrap done in {elapsed:.1f}s")


def _pack(rootfs: Path, tar: Path) -> None:
    """Tar the rootfs with numeric owners, without what a container gets from the engine (/dev, /proc,
    /sys) and without apt's downloaded packages."""
    excludes = ["./dev/*", "./proc/*", "./sys/*", "./var/cache/apt/archives/*.deb", "./var/lib/apt/lists/*"]
    command = ["tar", "--numeric-owner", *(f"--exclude={pattern}" for pattern in excludes)]
    command += ["-C", str(rootfs), "-cf", str(tar), "."]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise BaseImageError(f"`{' '.join(command)}` exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    progress(f"packed {tar.stat().st_size / 1e6:.0f} MB")


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_base_image(client: docker.DockerClient, spec: BaseSpec | None = None) -> str:
    """The base image's tag in ``client``'s engine: present, imported from the cached tar, or built."""
    spec = spec or default_spec()
    if image_exists(client, spec.tag):
        progress(f"base image {spec.tag} present")
        return spec.tag
    tar = rootfs_tar(spec)
    repository, tag = spec.tag.split(":")
    progress(f"importing {tar.name} as {spec.tag}")
    started = time.monotonic()
    client.api.import_image_from_file(
        str(tar), repository=repository, tag=tag, changes=["ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]']
    )
    if not image_exists(client, spec.tag):
        raise BaseImageError(f"the engine did not create {spec.tag} from {tar}")
    progress(f"imported {spec.tag} in {time.monotonic() - started:.1f}s")
    return spec.tag
