"""Where ``${ … }`` segments are in a string, and how a template is rendered."""

from __future__ import annotations

import pytest

from stigmer.api import templates


def programs(text: str) -> list[str]:
    return [segment.program for segment in templates.segments(text)]


def test_a_literal_has_no_segments() -> None:
    assert programs("https://api.example.com/v1") == []
    assert not templates.is_expression("plain $ text {}")


def test_segments_inside_text_are_found_in_order() -> None:
    assert programs("Bearer ${ $env.TOKEN }") == ["$env.TOKEN"]
    assert programs("${ .a }-${.b}") == [".a", ".b"]


def test_braces_inside_the_program_and_its_strings_do_not_end_a_segment() -> None:
    assert programs('x ${ {a: 1} | .a } y ${ "}" + "{" } z') == ["{a: 1} | .a", '"}" + "{"']
    assert programs(r'${ "say \"}\"" }') == [r'"say \"}\""']


@pytest.mark.parametrize("text", ["${ .a", "Bearer ${ $env.TOKEN", "${ {a: 1 }", '${ "}'])
def test_an_unclosed_segment_is_an_error(text: str) -> None:
    with pytest.raises(templates.TemplateError, match="missing its closing"):
        templates.segments(text)


def test_whole_value_is_one_segment_and_nothing_else() -> None:
    segment = templates.whole_value("  ${ .items | length }  ")
    assert segment is not None and segment.program == ".items | length"
    assert templates.whole_value("${ .a } and ${ .b }") is None
    assert templates.whole_value("n=${ .a }") is None


def test_render_splices_values_as_text() -> None:
    text = "user ${ .name } has ${ .n } items: ${ .items } (${ .none })"
    rendered = templates.render(text, ["ada", 9007199254740993, {"a": [1, True]}, None])
    assert rendered == 'user ada has 9007199254740993 items: {"a":[1,true]} ()'
