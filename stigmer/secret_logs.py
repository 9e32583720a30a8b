"""Keeping secret values out of every log line a process writes.

Each component process calls ``install()`` once, after configuring logging: a filter on every handler
of the root logger rewrites each record (its message with its arguments, its exception text and stack)
with every secret value the process knows replaced by ``REDACTED``. A process learns secret values
where it resolves them (a runner fetching an execution's runtime environment, the server storing or
serving one) and hands them to ``remember()``; the registry is process-wide and bounded.

Besides a value as is, the filter replaces the forms a value takes on its way into a log line:
URL-encoded (a query string, a path segment), base64-encoded after any prefix (an HTTP Basic
``Authorization`` header carries ``base64("user:" + secret)``), and cut short by a truncation (a
prefix of a value at the end of a line or just before an ellipsis). Values shorter than
``MIN_SECRET_LENGTH`` are not scrubbed from logs: they would match ordinary text everywhere.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import sys
import threading
import traceback
import types
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable

from stigmer.secret_text import longest_first, replace_secrets

REDACTED = "<redacted>"
MIN_SECRET_LENGTH = 4
# A cut value is recognised from this many characters on (shorter prefixes are too common).
MIN_CUT_LENGTH = 8
# base64 runs of fewer characters (6 bytes of a value) are not replaced: too likely in ordinary text.
MIN_BASE64_LENGTH = 8
# The most recently used values are kept (each use refreshes one: runners fetch an execution's values again
# as it runs); every log line is checked against each, so the bound is also the cost of a line.
MAX_REMEMBERED = 512
ELLIPSES = ("…", "...")


def encoded_forms(value: str) -> set[str]:
    """The texts that stand for ``value`` in a log line: itself, URL-encoded, and the base64 runs that
    encode it at each of the three byte alignments (so whatever precedes it, ``user:`` included)."""
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote(value), urllib.parse.quote_plus(value)}
    raw = value.encode()
    for skip in range(3):
        body = raw[skip:]
        whole = body[: len(body) // 3 * 3]
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            run = encode(whole).decode()
            if len(run) >= MIN_BASE64_LENGTH:
                forms.add(run)
    return {form for form in forms if form}


def scrub_cut(text: str, form: str) -> str:
    """``text`` with every prefix of ``form`` (of ``MIN_CUT_LENGTH`` characters or more) that ends a line
    or is followed by an ellipsis replaced by ``REDACTED``."""
    if len(form) <= MIN_CUT_LENGTH:
        return text
    head = form[:MIN_CUT_LENGTH]
    start = text.find(head)
    while start >= 0:
        end = start + MIN_CUT_LENGTH
        while end < len(text) and end - start < len(form) and text[end] == form[end - start]:
            end += 1
        rest = text[end:]
        if end - start < len(form) and (rest == "" or rest[0] in "\r\n" or rest.startswith(ELLIPSES)):
            text = text[:start] + REDACTED + rest
            end = start + len(REDACTED)
        start = text.find(head, end)
    return text


class SecretRegistry:
    """The secret values a process knows (the most recent ``MAX_REMEMBERED``), and how to scrub them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: OrderedDict[str, None] = OrderedDict()
        self._pairs: list[tuple[str, str]] = []
        self._forms: list[str] = []

    def remember(self, values: Iterable[str]) -> None:
        """Add ``values`` (those shorter than ``MIN_SECRET_LENGTH`` are ignored)."""
        fresh = [value for value in values if len(value) >= MIN_SECRET_LENGTH]
        if not fresh:
            return
        with self._lock:
            changed = False
            for value in fresh:
                changed |= value not in self._values
                self._values[value] = None
                self._values.move_to_end(value)
            while len(self._values) > MAX_REMEMBERED:
                self._values.popitem(last=False)
                changed = True
            if changed:
                forms = {form for value in self._values for form in encoded_forms(value)}
                self._pairs = longest_first((form, REDACTED) for form in forms)
                self._forms = [form for form, _ in self._pairs]

    def forget_all(self) -> None:
        with self._lock:
            self._values.clear()
            self._pairs, self._forms = [], []

    def scrub(self, text: str) -> str:
        """``text`` with every known value, in every form of ``encoded_forms``, whole or cut, replaced."""
        pairs, forms = self._pairs, self._forms
        if not pairs:
            return text
        text = replace_secrets(text, pairs)
        for form in forms:
            text = scrub_cut(text, form)
        return text


REGISTRY = SecretRegistry()


def remember(values: Iterable[str]) -> None:
    """Make the process's log filter scrub ``values`` from now on."""
    REGISTRY.remember(values)


def scrub(text: str) -> str:
    """``text`` as the process's log filter writes it."""
    return REGISTRY.scrub(text)


class SecretFilter(logging.Filter):
    """Rewrites each record with the registry's values scrubbed (message and arguments, exception, stack)."""

    def __init__(self, registry: SecretRegistry = REGISTRY) -> None:
        super().__init__("stigmer.secret_logs")
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_stigmer_scrubbed", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let the handler report it as it would
            return True
        record.msg, record.args = self.registry.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.registry.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.registry.scrub(record.stack_info)
        setattr(record, "_stigmer_scrubbed", True)  # noqa: B010  (LogRecord has no such attribute)
        return True


_install_lock = threading.Lock()


def install(logger: logging.Logger | None = None) -> SecretFilter:
    """Put the one ``SecretFilter`` on every handler of ``logger`` (default: the root logger), and scrub
    the traceback of an exception nobody caught (``sys.excepthook``, ``threading.excepthook``); idempotent.

    Call it after logging is configured: handlers added later are not covered.
    """
    logger = logger or logging.getLogger()
    with _install_lock:
        existing = _FILTER
        for handler in logger.handlers:
            if existing not in handler.filters:
                handler.addFilter(existing)
        sys.excepthook = print_scrubbed
        threading.excepthook = _thread_exception
    return existing


def print_scrubbed(
    exc_type: type[BaseException], exc: BaseException, tb: types.TracebackType | None, *, thread: str = ""
) -> None:
    """Print an uncaught exception's traceback to stderr, as Python would, with secret values scrubbed."""
    head = f"Exception in thread {thread}:\n" if thread else ""
    text = head + "".join(traceback.format_exception(exc_type, exc, tb))
    with contextlib.suppress(OSError, ValueError):  # stderr closed: nowhere to say it
        sys.stderr.write(REGISTRY.scrub(text))
        sys.stderr.flush()


def _thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    print_scrubbed(args.exc_type, args.exc_value, args.exc_traceback, thread=name)


_FILTER = SecretFilter()
