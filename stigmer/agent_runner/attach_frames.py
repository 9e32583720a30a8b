"""The output of a container attached without a TTY: the engine multiplexes stdout and stderr on one
stream, in frames of an 8-byte header (the stream: 1 stdout, 2 stderr; three zero bytes; the payload's
length, 4 bytes big-endian) followed by the payload. ``FrameSplitter`` takes the bytes as they arrive, in
any cut, and gives back each stream's payloads; ``LineSplitter`` cuts a stream's payloads into lines.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

STDOUT = 1
STDERR = 2
HEADER = struct.Struct(">BxxxL")


class FrameError(Exception):
    """The stream is not a multiplexed attach stream (a TTY container's raw output, or garbage)."""


@dataclass
class FrameSplitter:
    """Feed it the attach stream's bytes; it returns ``(stream, payload)`` for each complete frame."""

    _pending: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._pending += data
        frames: list[tuple[int, bytes]] = []
        while len(self._pending) >= HEADER.size:
            stream, size = HEADER.unpack_from(self._pending)
            if stream not in (0, STDOUT, STDERR) or self._pending[1:4] != b"\0\0\0":
                raise FrameError(f"not a multiplexed attach stream (header {bytes(self._pending[:8]).hex()})")
            end = HEADER.size + size
            if len(self._pending) < end:
                break
            frames.append((stream, bytes(self._pending[HEADER.size : end])))
            del self._pending[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still waiting for the rest."""
        return len(self._pending)


@dataclass
class LineSplitter:
    """Cuts a byte stream into lines (without their ``\\n``); ``rest()`` is an unterminated last line."""

    _partial: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        self._partial += data
        *lines, rest = self._partial.split(b"\n")
        self._partial = bytearray(rest)
        return [bytes(line) for line in lines]

    def rest(self) -> bytes:
        rest, self._partial = bytes(self._partial), bytearray()
        return rest


def frame(stream: int, payload: bytes) -> bytes:
    """One frame as the engine sends it (for tests and fixtures)."""
    return HEADER.pack(stream, len(payload)) + payload
