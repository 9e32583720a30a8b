"""Resource IDs: prefixes, shape, ordering."""

from __future__ import annotations

import pytest

from stigmer.api import ids


@pytest.mark.parametrize("prefix", ids.PREFIXES)
def test_new_id_carries_its_kind(prefix: str) -> None:
    identifier = ids.new_id(prefix)
    assert identifier.startswith(f"{prefix}-")
    assert ids.kind_of(identifier) == prefix


def test_unknown_prefix_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown ID prefix 'xyz'"):
        ids.new_id("xyz")


def test_ids_created_later_sort_after_earlier_ones_even_within_one_millisecond() -> None:
    made = [ids.new_id(ids.AGENT) for _ in range(2000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


@pytest.mark.parametrize(
    "value",
    ["code-reviewer", "agt-", "agt-short", "foo-01jc3m0000000000000000", "agt-01JC3M00000000000000", ""],
)
def test_kind_of_is_none_for_non_ids(value: str) -> None:
    assert ids.kind_of(value) is None
