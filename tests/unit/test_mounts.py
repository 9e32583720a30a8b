"""Removing a folder with filesystems mounted in it unmounts them first: their files survive."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.faults import disk
from support.mounts import mounts_under, remove_tree


def test_mount_points_under_a_folder_are_listed_deepest_first(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / /proc rw - proc proc rw\n"
        "30 22 0:40 / /srv/e2e/data rw - ext4 /dev/vda rw\n"
        "31 30 0:41 / /srv/e2e/data/overlay2/abc/merged rw - overlay overlay rw\n"
        "32 22 0:42 / /srv/e2e-other rw - tmpfs tmpfs rw\n"
        "33 22 0:43 / /srv/e2e/with\\040space rw - tmpfs tmpfs rw\n"
    )
    assert mounts_under(Path("/srv/e2e"), mountinfo) == [
        Path("/srv/e2e/data/overlay2/abc/merged"),
        Path("/srv/e2e/with space"),
        Path("/srv/e2e/data"),
    ]


def test_remove_tree_unmounts_a_bind_mount_before_deleting(tmp_path: Path) -> None:
    problem = disk.mount_problem()
    if problem is not None:
        pytest.skip(disk.missing_message(disk.MOUNT_PERMISSION, problem))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    doomed = tmp_path / "state"
    (doomed / "rootfs" / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(precious), str(doomed / "rootfs" / "mnt")], check=True, timeout=30)
    try:
        unmounted = remove_tree(doomed)
    finally:
        if mounts_under(doomed):
            subprocess.run(["umount", "-l", str(doomed / "rootfs" / "mnt")], check=False, timeout=30)
    assert unmounted == [doomed / "rootfs" / "mnt"]
    assert not doomed.exists()
    assert (precious / "keep.txt").read_text() == "mine", "deleting the folder went through the mount"
