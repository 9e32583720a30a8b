"""Mount points under a folder, unmounting them, and removing a folder only once nothing is mounted in it.

A Docker engine leaves overlay and bind mounts under its data and exec roots when it is killed, and
debootstrap leaves /proc, /sys or a bind of /dev mounted in its target when it fails. ``shutil.rmtree``
follows mount points, so removing such a folder first would delete files of the mounted filesystems.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from support.faults.leftovers import unmount

MOUNTINFO = Path("/proc/self/mountinfo")


def mounts_under(folder: Path, mountinfo: Path = MOUNTINFO) -> list[Path]:
    """Mount points at or below ``folder``, deepest first (so they can be unmounted in that order)."""
    top = folder.resolve()
    found = []
    for line in mountinfo.read_text().splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = Path(fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\"))
        if point == top or point.is_relative_to(top):
            found.append(point)
    return sorted(set(found), key=lambda path: (len(path.parts), str(path)), reverse=True)


def unmount_under(folder: Path, passes: int = 5) -> list[Path]:
    """Unmount everything mounted at or below ``folder`` (stacked mounts too); what was unmounted.

    Raises ``OSError`` naming what stays mounted after ``passes`` rounds.
    """
    done: list[Path] = []
    for _ in range(passes):
        points = mounts_under(folder)
        if not points:
            return done
        for point in points:
            unmount(point)
            done.append(point)
    left = mounts_under(folder)
    if left:
        raise OSError(f"still mounted under {folder} after {passes} rounds of umount: {[str(p) for p in left]}")
    return done


def remove_tree(folder: Path) -> list[Path]:
    """Unmount what is mounted under ``folder``, then delete it; the mount points that were unmounted."""
    if not folder.exists():
        return []
    unmounted = unmount_under(folder)
    shutil.rmtree(folder)
    return unmounted
