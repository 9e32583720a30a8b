"""The attach stream of a container without a TTY: stdout and stderr frames, however the bytes arrive."""

from __future__ import annotations

import pytest

from stigmer.agent_runner.attach_frames import STDERR, STDOUT, FrameError, FrameSplitter, LineSplitter, frame

STREAM = (
    frame(STDOUT, b'{"jsonrpc": "2.0", "id": 1, "result": {}}\n')
    + frame(STDERR, b"starting\n")
    + frame(STDOUT, b"")
    + frame(STDOUT, b"x" * 70000)
    + frame(STDERR, b"half a li")
    + frame(STDERR, b"ne\n")
)
EXPECTED = [
    (STDOUT, b'{"jsonrpc": "2.0", "id": 1, "result": {}}\n'),
    (STDERR, b"starting\n"),
    (STDOUT, b""),
    (STDOUT, b"x" * 70000),
    (STDERR, b"half a li"),
    (STDERR, b"ne\n"),
]


def test_frames_arriving_whole_are_split_by_stream() -> None:
    assert FrameSplitter().feed(STREAM) == EXPECTED


@pytest.mark.parametrize("cut", [1, 3, 7, 8, 9, 50, 4096])
def test_frames_cut_anywhere_come_out_the_same(cut: int) -> None:
    splitter = FrameSplitter()
    frames = [f for start in range(0, len(STREAM), cut) for f in splitter.feed(STREAM[start : start + cut])]
    assert frames == EXPECTED
    assert splitter.pending == 0


def test_every_cut_of_a_header_waits_for_the_rest() -> None:
    data = frame(STDERR, b"err\n") + frame(STDOUT, b"out\n")
    for cut in range(len(data) + 1):
        splitter = FrameSplitter()
        assert splitter.feed(data[:cut]) + splitter.feed(data[cut:]) == [(STDERR, b"err\n"), (STDOUT, b"out\n")]


def test_raw_output_of_a_tty_container_is_refused() -> None:
    with pytest.raises(FrameError, match="not a multiplexed attach stream"):
        FrameSplitter().feed(b'{"jsonrpc": "2.0"}\n')


def test_lines_are_cut_at_newlines_across_payloads() -> None:
    lines = LineSplitter()
    assert lines.feed(b"one\ntw") == [b"one"]
    assert lines.feed(b"o\n\nthree") == [b"two", b""]
    assert lines.rest() == b"three"
    assert lines.rest() == b""
