"""The current time as a protobuf Timestamp (one place to change or fake it)."""

from __future__ import annotations

import time

from google.protobuf.timestamp_pb2 import Timestamp


def now() -> Timestamp:
    """The current wall-clock time."""
    ts = Timestamp()
    ts.FromNanoseconds(time.time_ns())
    return ts
