"""The log filter every component installs: no secret value it knows reaches a log line, in any form."""

from __future__ import annotations

import base64
import io
import logging
import urllib.parse
from collections.abc import Iterator

import pytest

from stigmer.secret_logs import REDACTED, SecretFilter, SecretRegistry, print_scrubbed, remember

SECRET = "tok-9f8e7d6c5b4a3f2e1d0c"


@pytest.fixture
def registry() -> SecretRegistry:
    registry = SecretRegistry()
    registry.remember([SECRET])
    return registry


@pytest.fixture
def logged(registry: SecretRegistry) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose records reach a handler carrying the filter (as the root's handlers do)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter(registry))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("test.secret_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(f"GET http://127.0.0.1:8080/echo?a=1&token={SECRET} 200", id="query"),
        pytest.param(f"GET http://127.0.0.1:8080/v1/items/{SECRET}/x 200", id="path"),
        pytest.param(f"GET /x?token={urllib.parse.quote(SECRET + '/+ &')}", id="url-encoded"),
        pytest.param("Authorization: Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode(), id="basic-auth-5"),
        pytest.param(
            "Authorization: Basic " + base64.b64encode(f"admin:{SECRET}".encode()).decode(), id="basic-auth-6"
        ),
        pytest.param("Authorization: Basic " + base64.b64encode(f"ab:{SECRET}".encode()).decode(), id="basic-auth-3"),
        pytest.param(f"request body: {{'token': '{SECRET[:14]}", id="cut-at-end"),
        pytest.param(f"request body: {{'token': '{SECRET[:12]}…'}} (truncated)", id="cut-before-ellipsis"),
        pytest.param(f"args: {SECRET[:10]}...", id="cut-before-dots"),
    ],
)
def test_no_form_of_a_secret_reaches_the_log(logged: tuple[logging.Logger, io.StringIO], line: str) -> None:
    logger, stream = logged
    logger.info("%s", line)
    written = stream.getvalue()
    assert REDACTED in written, written
    for form in (SECRET, SECRET[:10], urllib.parse.quote(SECRET), base64.b64encode(SECRET.encode()).decode()[:12]):
        assert form not in written, written


def test_the_arguments_and_the_traceback_are_scrubbed(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    try:
        raise RuntimeError(f"the API refused {SECRET}")
    except RuntimeError:
        logger.exception("call with %s failed", {"token": SECRET})
    written = stream.getvalue()
    assert SECRET not in written, written
    assert written.count(REDACTED) == 2, written
    assert "RuntimeError: the API refused" in written


def test_ordinary_text_is_left_alone(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    line = "GET http://127.0.0.1:8080/v1/deployments/latest?page=2 200 OK tok-9f8"  # a short prefix is no cut
    logger.info(line)
    assert stream.getvalue().strip().endswith(line)


def test_a_value_learned_later_is_scrubbed_from_then_on(
    registry: SecretRegistry, logged: tuple[logging.Logger, io.StringIO]
) -> None:
    logger, stream = logged
    later = "learned-later-0123456789"
    registry.remember([later, "abc"])  # too short to scrub: it would match everywhere
    logger.info("token=%s abc", later)
    assert stream.getvalue().strip().endswith(f"token={REDACTED} abc")


def test_an_uncaught_exception_is_printed_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    remember([SECRET])
    try:
        raise ValueError(f"bad token {SECRET}")
    except ValueError as exc:
        print_scrubbed(type(exc), exc, exc.__traceback__)
    printed = capsys.readouterr().err
    assert "ValueError: bad token <redacted>" in printed and SECRET not in printed, printed
