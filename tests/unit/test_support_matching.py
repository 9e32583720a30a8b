"""support.matching: the subset matcher names the path that differs."""

from __future__ import annotations

import pytest

from support.matching import assert_subset, differences, subset_mismatches


def test_extra_actual_keys_are_allowed() -> None:
    assert subset_mismatches({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2}}) == []


def test_missing_key_is_named_by_path() -> None:
    problems = subset_mismatches({"spec": {"skills": [{"name": "x"}]}}, {"spec": {"skills": [{"description": "d"}]}})
    assert problems == ["spec.skills[0].description: missing (expected 'd')"]


def test_different_value_is_named_by_path() -> None:
    actual = {"spec": {"tasks": [{"name": "a"}, {"config": {"endpoint": "http://x"}}]}}
    expected = {"spec": {"tasks": [{"name": "a"}, {"config": {"endpoint": "http://y"}}]}}
    assert subset_mismatches(actual, expected) == ["spec.tasks[1].config.endpoint: expected 'http://y', got 'http://x'"]


def test_lists_must_have_the_same_length() -> None:
    problems = subset_mismatches({"tasks": [1, 2, 3]}, {"tasks": [1, 2]})
    assert len(problems) == 1
    assert problems[0].startswith("tasks: expected 2 item(s), got 3")


def test_integers_floats_and_bools_are_told_apart() -> None:
    assert subset_mismatches({"status": 500}, {"status": 500}) == []
    assert subset_mismatches({"status": 500.0}, {"status": 500}) == ["status: expected 500, got 500.0"]
    assert subset_mismatches({"ratio": 1}, {"ratio": 1.0}) == ["ratio: expected 1.0, got 1"]
    assert subset_mismatches({"flag": 1}, {"flag": True}) == ["flag: expected True, got 1"]
    assert subset_mismatches({"flag": False}, {"flag": 0}) == ["flag: expected 0, got False"]
    assert subset_mismatches({"n": "5"}, {"n": 5}) == ["n: expected 5, got '5'"]
    big = 9007199254740993
    assert subset_mismatches({"n": float(big)}, {"n": big}) == [f"n: expected {big}, got {float(big)!r}"]


def test_type_mismatch_is_reported() -> None:
    assert subset_mismatches({"a": [1]}, {"a": {"b": 1}}) == ["a: expected a mapping, got [1]"]
    assert subset_mismatches({"a": {"b": 1}}, {"a": [1]}) == ["a: expected a list, got {'b': 1}"]


def test_assert_subset_lists_every_path() -> None:
    with pytest.raises(AssertionError) as info:
        assert_subset({"a": 1, "b": 2}, {"a": 2, "b": 3, "c": 4}, what="agent 'x'")
    message = str(info.value)
    assert "agent 'x' differs from what was declared at 3 path(s)" in message
    for path in ("a: expected 2", "b: expected 3", "c: missing"):
        assert path in message


def test_differences_finds_every_changed_path() -> None:
    before = {"spec": {"description": "one", "tasks": [{"a": 1}], "gone": 1}, "same": True}
    after = {"spec": {"description": "two", "tasks": [{"a": 1.0}], "new": 2}, "same": True}
    assert differences(before, after) == [
        "spec.description: 'one' -> 'two'",
        "spec.gone: removed (was 1)",
        "spec.new: added 2",
        "spec.tasks[0].a: 1 -> 1.0",
    ]
    assert differences(before, before) == []


def test_differences_of_lists_of_other_length() -> None:
    assert differences({"t": [1]}, {"t": [1, 2]}) == ["t: [1] -> [1, 2]"]
