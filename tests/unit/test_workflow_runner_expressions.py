"""Runtime expressions of the workflow-runner: whole values, interpolation, big integers, deferral."""

from __future__ import annotations

from typing import Any

import pytest

from stigmer.workflow_runner import expressions as ex

DATA = {"fetch": {"full_name": "stigmer/stigmer", "stars": 42, "tags": ["a", "b"], "none": None}, "amount": 5}
VARS = {"input": {"amount": 5}, "env": {"REGION": "eu"}, "order": {"id": 7}}


def render(value: object, variables: dict | None = None) -> object:
    return ex.render(value, DATA, VARS if variables is None else variables)


def test_a_whole_value_expression_gives_the_json_value_with_integers_kept() -> None:
    assert render("${ .fetch.stars }") == 42
    assert isinstance(render("${ .fetch.stars }"), int)
    assert render("  ${ .fetch }  ") == DATA["fetch"]
    assert render("${ .amount / 2 }") == 2.5
    assert render("${ .amount * 2 }") == 10
    assert isinstance(render("${ .amount * 2 }"), int)


def test_variables_are_bound_and_dot_is_context() -> None:
    assert render("${ $input.amount + $order.id }") == 12
    assert render("${ $context.fetch.stars == .fetch.stars }") is True
    assert render("${ $env.REGION }") == "eu"


def test_embedded_expressions_are_spliced_as_text() -> None:
    assert render("Bearer ${ $env.REGION }") == "Bearer eu"
    assert render("/orders/${ $order.id }/charge") == "/orders/7/charge"
    assert render("n=${ .fetch.none }.") == "n=."
    assert render("tags=${ .fetch.tags } obj=${ {a: 1} }") == 'tags=["a","b"] obj={"a":1}'
    assert render("${ .fetch.stars } and ${ .amount }") == "42 and 5"
    assert render("flag ${ .amount > 1 }") == "flag true"


def test_braces_inside_jq_strings_and_objects_do_not_end_a_segment() -> None:
    assert render('${ {"k": "}"} | .k }') == "}"
    assert render('x${ "a\\"}" }y') == 'xa"}y'
    assert render('${ "}" + "{" }') == "}{"


def test_plain_strings_and_other_values_are_literals() -> None:
    value = {"a": "plain", "b": 3, "c": [True, None, "${ .amount }"]}
    assert render(value) == {"a": "plain", "b": 3, "c": [True, None, 5]}


def test_results_none_and_many() -> None:
    assert render("${ empty }") is None
    with pytest.raises(ex.ExpressionError, match="2 results"):
        render("${ .fetch.tags[] }")


def test_bad_expressions_raise_expression_errors() -> None:
    with pytest.raises(ex.ExpressionError, match="missing the closing"):
        render("x ${ .a ")
    with pytest.raises(ex.ExpressionError):
        render("${ .a | }")
    with pytest.raises(ex.ExpressionError, match="cannot be added"):
        render('${ .amount + "x" }')
    with pytest.raises(ex.ExpressionError):
        render("${ $undefined }")


def test_big_integers_pass_through_exactly() -> None:
    big = 12345678901234567890
    data = {"id": big, "nested": [{"n": -(2**63)}], "small": 2**53 - 1}
    assert ex.render("${ .id }", data, {}) == big
    assert ex.render("${ {id: .id, n: .nested[0].n} }", data, {}) == {"id": big, "n": -(2**63)}
    assert ex.render("id=${ .id }", data, {}) == f"id={big}"
    assert ex.render('${ "id " + (.id | tostring) }', data, {}) == f"id {big}"
    assert ex.render("${ .small + 1 }", data, {}) == 2**53
    assert ex.render("${ $input.id }", {}, {"input": data}) == big


def test_big_integers_are_numbers_to_jq() -> None:
    big = 123456789012345678901
    data = {"big": big, "near": 2**53 + 1}
    assert ex.render("${ .big | type }", data, {}) == "number"
    assert ex.render("${ .big | tostring }", data, {}) == str(big)
    assert ex.render("${ .big == 123456789012345678901 }", data, {}) is True
    assert ex.render("${ .big > .near }", data, {}) is True
    assert ex.render("${ .near > 9007199254740992 }", data, {}) is True  # exact, not rounded to 2**53
    assert ex.render("${ [.near, .big] | max }", data, {}) == big
    assert ex.render("${ .big | tostring | tonumber }", data, {}) == big
    # arithmetic is jq's, in doubles: the nearest double, never an internal encoding
    assert ex.render("${ .big + 1 }", data, {}) == 123456789012345680000  # as `jq` prints it: 17 digits
    assert ex.render("${ .big - 123456789012345678900 }", data, {}) == 0
    assert "bigint" not in str(ex.render("${ .big + 1 | tostring }", data, {}))
    assert ex.render("${ 4 / 2 }", {}, {}) == 2 and isinstance(ex.render("${ 4 / 2 }", {}, {}), int)
    assert ex.render("${ 1 / 4 }", {}, {}) == 0.25


def test_a_program_is_compiled_once_per_variable_set() -> None:
    program = ".amount + 1000"
    before = ex._compiled.cache_info()
    for amount in range(5):
        assert ex.evaluate(program, {"amount": amount}, {"input": None}) == 1000 + amount
    after = ex._compiled.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 4


def test_truthiness_follows_jq() -> None:
    assert [ex.truthy(v) for v in (False, None, 0, "", [], True)] == [False, False, True, True, True, True]


def test_whole_program_and_references_env() -> None:
    assert ex.whole_program(" ${ .a } ") == ".a"
    assert ex.whole_program("${ .a } ${ .b }") is None
    assert ex.whole_program("x ${ .a }") is None
    assert ex.references_env("Bearer ${ $env.TOKEN }")
    assert ex.references_env("${ $secrets.X }")
    assert not ex.references_env("${ .environment }")
    assert not ex.references_env("$env without an expression")


def test_deferred_strings_are_left_for_later_and_filled_in_without_re_evaluating_data() -> None:
    data = {"text": "${ $env.TOKEN }"}  # data that looks like an expression stays data
    config = {"headers": {"Authorization": "Bearer ${ $env.TOKEN }", "X-Text": "${ .text }"}, "n": "${ 1 + 1 }"}
    rendered, deferred = ex.render_except(config, data, {}, ex.references_env)
    assert rendered == {"headers": {"Authorization": None, "X-Text": "${ $env.TOKEN }"}, "n": 2}
    assert deferred == [(["headers", "Authorization"], "Bearer ${ $env.TOKEN }")]
    filled = ex.fill_in(rendered, deferred, data, {"env": {"TOKEN": "s3cr3t"}})
    assert filled["headers"] == {"Authorization": "Bearer s3cr3t", "X-Text": "${ $env.TOKEN }"}


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("length", 3),
        ("keys", ["a", "b", "c"]),
        (".", {"a": 1, "b": {"x": 2}, "c": [3]}),
        ("{a}", {"a": 1}),
        ('"\\(.a)-\\(.c[0])"', "1-3"),
        (".a as $x | .b.x + $x", 3),
        ("to_entries | length", 3),
        ("$context | keys", ["a", "b", "c"]),
        ("if .a then .b.x else .c end", 2),
        ("{k: .b.x, l: [.c[0], .missing]}", {"k": 2, "l": [3, None]}),
        (".b[.a | tostring] // 9", 9),
        (".b | keys", ["x"]),
        (".a | $context | length", 3),
        ("[.a | tostring] + [length]", ["1", 3]),
        ("if .a then .b | length else .c end", 1),
        (".c | .[0] as $x | $context.b.x + $x", 5),
    ],
)
def test_a_program_sees_all_of_the_document_it_reads(program: str, expected: Any) -> None:
    # only the fields a program names are given to jq when that is all it can read
    assert ex.evaluate(program, {"a": 1, "b": {"x": 2}, "c": [3]}, {"input": None}) == expected


def test_export_reads_the_output_and_context() -> None:
    data = {"a": 1, "items": list(range(100))}
    assert ex.evaluate(".n + $context.a", data, {"output": {"n": 2}}, dot_is_output=True) == 3
    assert ex.evaluate("length", data, {"output": [1, 2]}, dot_is_output=True) == 2
