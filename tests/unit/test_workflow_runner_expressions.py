"""Runtime expressions of the workflow-runner: whole values, interpolation, big integers, deferral."""

from __future__ import annotations

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
    with pytest.raises(ex.ExpressionError):
        ex.render("${ .id + 1 }", data, {})


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
