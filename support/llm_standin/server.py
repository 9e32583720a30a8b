"""The stand-in's HTTP server: Ollama's API (what the ``ollama`` client calls) plus a control endpoint.

Ollama API: ``GET /``, ``GET /api/version``, ``GET /api/tags``, ``POST /api/show``, ``POST /api/chat``
(NDJSON stream by default, one JSON object with ``"stream": false``). Control endpoint, for a stand-in
running as another process (its requests are not recorded): ``GET /_standin/requests``,
``GET|POST|DELETE /_standin/rules`` (read, append, drop rules; ``{"rules": [...], "first": true}`` puts
the new rules before the others), ``DELETE /_standin/rules/<label>`` (drop the rules so labelled),
``POST /_standin/release`` (end every hung request), ``POST /_standin/reset`` (drop rules and recorded
requests). A request that got no answer (a hang, a cut) is recorded with status 0.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from support.llm_standin import wire
from support.llm_standin.chat import Chat
from support.llm_standin.recording import RecordedRequest, Recorder
from support.llm_standin.rulebook import Answer, Rulebook
from support.llm_standin.rules import Rule, RuleError, rules_from_json

CONTROL_PREFIX = "/_standin/"
_POLL_INTERVAL = 0.05  # how soon serve_forever notices stop()
Log = Callable[[str], None]


class _Stopped(Exception):
    """The stand-in is stopping while a request waits out its latency."""


class LLMStandin:
    """A deterministic stand-in for an Ollama server, bound to ``host:port`` (port 0: any free port).

    Use as a context manager, or ``start()`` / ``stop()``. Tests set rules with ``add_rules`` and read
    what it received with ``requests`` / ``chats``.
    """

    def __init__(
        self,
        models: Sequence[str] = wire.DEFAULT_MODELS,
        rules: Iterable[Rule] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Log | None = None,
    ) -> None:
        self.models = tuple(dict.fromkeys(wire.canonical_model(model) for model in models))
        self.rulebook = Rulebook(rules)
        self.recorder = Recorder()
        self._log = log
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._release = threading.Event()
        self._hung = 0
        self._httpd = _Server((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        """The base URL to give ``ollama.Client(host=...)`` or ``OLLAMA_HOST``."""
        return f"http://{self.address}"

    def start(self) -> LLMStandin:
        """Serve in a background thread; returns at once (the socket is already listening)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, name=f"llm-standin {self.address}")
            self._thread.daemon = True
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` is called from another one (or a signal handler's thread)."""
        self._httpd.serve_forever(poll_interval=_POLL_INTERVAL)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, cut open connections (and pending latencies) and close the socket. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.release()
        self._httpd.shutdown()
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> LLMStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests use

    def add_rules(self, *rules: Rule, first: bool = False) -> None:
        """Append ``rules`` after those already set (first match wins); ``first``: before them."""
        self.rulebook.add(*rules, first=first)

    def remove_rules(self, label: str) -> int:
        """Drop the rules labelled ``label`` (a rule's ``name``); how many there were."""
        return self.rulebook.remove(label)

    def clear_rules(self) -> None:
        self.rulebook.clear()

    def release(self) -> int:
        """End every hung request (its connection is closed without an answer); how many there were."""
        with self._connections_lock:
            released, self._release, hung = self._release, threading.Event(), self._hung
            self._hung = 0
        released.set()
        return hung

    def rules(self) -> list[dict[str, Any]]:
        """The rules in order, in JSON form, each with its ``label`` and uses ``remaining``."""
        return self.rulebook.snapshot()

    def requests(self, path: str | None = None, user_contains: str | None = None) -> list[RecordedRequest]:
        """Every API request received so far, in order (to ``path`` only, and whose last user message
        holds ``user_contains`` only, when given)."""
        return self.recorder.requests(path, user_contains)

    def chats(self, user_contains: str | None = None) -> list[RecordedRequest]:
        """The ``/api/chat`` requests received so far (whose last user message holds ``user_contains``)."""
        return self.recorder.requests("/api/chat", user_contains)

    def reset(self) -> None:
        """Drop every rule and recorded request."""
        self.rulebook.clear()
        self.recorder.clear()

    # -- used by the handler

    def wait(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stopped

    def hang(self, seconds: float | None) -> None:
        """Wait until ``release()`` (or ``stop()``), or ``seconds`` when given."""
        with self._connections_lock:
            event = self._release
            self._hung += 1
        event.wait(seconds)

    def log(self, line: str) -> None:
        if self._log is not None:
            self._log(line)

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class _Server(ThreadingHTTPServer):
    server_address: tuple[str, int]  # an AF_INET server: its host is a str, never bytes
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], standin: LLMStandin) -> None:
        self.standin = standin
        super().__init__(address, handler)


# The stand-in names itself in the ``Server`` header of every answer, so a probe can tell it from Ollama.
SERVER_NAME = "llm-standin"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.standin.track(self.connection, True)

    def finish(self) -> None:
        self.server.standin.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # the stand-in logs its own lines
        return

    # -- dispatch

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._arrived = time.time()
        path = urlsplit(self.path).path
        self._rule: str | None = None
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            error = wire.error_body(f"invalid JSON body: {exc}")
            if path.startswith(CONTROL_PREFIX):
                self._send(HTTPStatus.BAD_REQUEST, error)
            else:
                self._respond(method, path, None, HTTPStatus.BAD_REQUEST, error)
            return
        try:
            if path.startswith(CONTROL_PREFIX):
                self._control(method, path, body)
            else:
                self._api(method, path, body)
        except _Stopped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- Ollama API

    def _api(self, method: str, path: str, body: Any) -> None:
        standin = self.server.standin
        route = (method, path)
        if route in {("GET", "/"), ("HEAD", "/")}:
            self._respond(method, path, body, HTTPStatus.OK, "Ollama is running")
        elif route == ("GET", "/api/version"):
            self._respond(method, path, body, HTTPStatus.OK, {"version": wire.OLLAMA_VERSION})
        elif route == ("GET", "/api/tags"):
            self._respond(method, path, body, HTTPStatus.OK, wire.tags(standin.models))
        elif route == ("POST", "/api/show"):
            model = _model_of(body)
            if not model:
                self._respond(method, path, body, HTTPStatus.BAD_REQUEST, wire.error_body("model is required"))
            elif wire.canonical_model(model) not in standin.models:
                error = wire.error_body(wire.model_not_found_for_show(model))
                self._respond(method, path, body, HTTPStatus.NOT_FOUND, error)
            else:
                self._respond(method, path, body, HTTPStatus.OK, wire.show(wire.canonical_model(model)))
        elif route == ("POST", "/api/chat"):
            self._chat(body)
        else:
            self._respond(method, path, body, HTTPStatus.NOT_FOUND, "404 page not found")

    def _chat(self, body: Any) -> None:
        standin, path = self.server.standin, "/api/chat"
        model = _model_of(body)
        if not model:
            self._respond("POST", path, body, HTTPStatus.BAD_REQUEST, wire.error_body("model is required"))
            return
        canonical = wire.canonical_model(model)
        if canonical not in standin.models:
            error = wire.error_body(wire.model_not_found_for_chat(model))
            self._respond("POST", path, body, HTTPStatus.NOT_FOUND, error)
            return
        if not body.get("messages"):  # Ollama loads the model and answers at once
            self._respond("POST", path, body, HTTPStatus.OK, wire.loaded(model))
            return
        chat = Chat.from_body(body)
        answer = standin.rulebook.answer(chat, canonical)
        self._rule = answer.rule
        failure = _failure(answer, chat.stream)
        unanswered = answer.hang is not None or (answer.cut_after is not None and not chat.stream)
        # recorded once answered, before any latency: the order of the recording is the order of answers
        self._record("POST", path, body, 0 if unanswered else failure[0] if failure else HTTPStatus.OK)
        if unanswered:
            standin.wait(answer.delay)
            if answer.hang is not None:
                standin.hang(answer.hang.seconds)
            self._cut()
        elif failure is not None:
            standin.wait(answer.delay)
            retry_after = answer.error.retry_after if answer.error is not None else None
            extra = {} if retry_after is None else {"Retry-After": str(retry_after)}
            self._send(failure[0], wire.error_body(failure[1]), headers=extra)
        elif chat.stream:
            self._stream(model, body, answer)
        else:
            self._whole(model, body, answer)

    def _stream(self, model: str, body: Any, answer: Answer) -> None:
        standin = self.server.standin
        pieces = wire.split_text(answer.text, answer.chunks)
        standin.wait(answer.delay)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if answer.broken is not None:
            pieces = pieces[: answer.broken_after]
        if answer.cut_after is not None:
            pieces = pieces[: answer.cut_after]
        sent = 0
        for piece in pieces:
            if sent:
                standin.wait(answer.chunk_delay)
            self._write_chunk(wire.chunk(model, piece))
            sent += 1
        if answer.broken is not None:
            self._write_chunk(wire.error_body(answer.broken))
            self._end_chunks()
            return
        if answer.cut_after is not None:
            self._cut()
            return
        if answer.tool_calls or answer.raw_tool_calls:
            if sent:
                standin.wait(answer.chunk_delay)
            self._write_chunk(_with_raw_calls(wire.chunk(model, "", answer.tool_calls), answer))
            sent += 1
        waited = answer.delay + answer.chunk_delay * max(sent - 1, 0)
        done = wire.final(
            model,
            answer.text,
            answer.tool_calls,
            prompt_words=wire.prompt_words(body),
            pieces=len(pieces),
            waited=waited,
            streamed=True,
        )
        self._write_chunk(done)
        self._end_chunks()

    def _whole(self, model: str, body: Any, answer: Answer) -> None:
        pieces = wire.split_text(answer.text, answer.chunks)
        steps = len(pieces) + (1 if answer.tool_calls else 0)
        waited = answer.delay + answer.chunk_delay * max(steps - 1, 0)
        self.server.standin.wait(waited)
        done = wire.final(
            model,
            answer.text,
            answer.tool_calls,
            prompt_words=wire.prompt_words(body),
            pieces=len(pieces),
            waited=waited,
        )
        self._send(HTTPStatus.OK, _with_raw_calls(done, answer))

    # -- control endpoint

    def _control(self, method: str, path: str, body: Any) -> None:
        standin = self.server.standin
        route = (method, path.removeprefix(CONTROL_PREFIX))
        if route == ("GET", "requests"):
            # filtered here: a long scenario's whole log is megabytes of chat bodies
            query = parse_qs(urlsplit(self.path).query)
            path_filter, contains = (query.get(key, [None])[0] for key in ("path", "user_contains"))
            found = standin.requests(path_filter, contains)
            self._send(HTTPStatus.OK, {"requests": [r.to_json() for r in found]})
        elif route == ("GET", "rules"):
            self._send(HTTPStatus.OK, {"rules": standin.rules()})
        elif route == ("POST", "rules"):
            try:
                rules = rules_from_json(body)
            except (RuleError, TypeError, ValueError) as exc:
                self._send(HTTPStatus.BAD_REQUEST, wire.error_body(f"bad rules: {exc}"))
                return
            standin.add_rules(*rules, first=isinstance(body, dict) and body.get("first") is True)
            self._send(HTTPStatus.OK, {"added": len(rules), "rules": standin.rules()})
        elif route == ("DELETE", "rules"):
            standin.clear_rules()
            self._send(HTTPStatus.OK, {"rules": []})
        elif method == "DELETE" and route[1].startswith("rules/"):
            removed = standin.remove_rules(unquote(route[1].removeprefix("rules/")))
            self._send(HTTPStatus.OK, {"removed": removed, "rules": standin.rules()})
        elif route == ("POST", "release"):
            self._send(HTTPStatus.OK, {"released": standin.release()})
        elif route == ("POST", "reset"):
            standin.reset()
            self._send(HTTPStatus.OK, {"reset": True})
        else:
            self._send(HTTPStatus.NOT_FOUND, wire.error_body(f"no control route {method} {path}"))

    # -- writing

    def _respond(self, method: str, path: str, body: Any, status: int, payload: Any) -> None:
        self._record(method, path, body, status)
        self._send(status, payload, head_only=method == "HEAD")

    def _record(self, method: str, path: str, body: Any, status: int) -> None:
        standin = self.server.standin
        headers = {name.lower(): value for name, value in self.headers.items()}
        recorded = standin.recorder.record(
            time=self._arrived,
            method=method,
            path=path,
            headers=headers,
            body=body,
            status=int(status),
            rule=self._rule,
        )
        rule = f" rule={recorded.rule}" if recorded.rule else ""
        standin.log(f"{method} {path} {int(status)}{rule}")

    def _send(self, status: int, payload: Any, head_only: bool = False, headers: dict[str, str] | None = None) -> None:
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def _cut(self) -> None:
        """Close the connection now, mid-answer (the client sees the connection end, not an error)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(line):X}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()


def _with_raw_calls(obj: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """``obj`` with the answer's malformed tool calls (sent as they are) in its message."""
    if answer.raw_tool_calls:
        obj["message"]["tool_calls"] = list(answer.raw_tool_calls)
    return obj


def _failure(answer: Answer, stream: bool) -> tuple[int, str] | None:
    """The HTTP status and message when the answer is an error (a broken stream is one when not streaming)."""
    if answer.error is not None:
        return answer.error.status, answer.error.message
    if answer.broken is not None and not stream:
        return HTTPStatus.INTERNAL_SERVER_ERROR, answer.broken
    return None


def _model_of(body: Any) -> str:
    if isinstance(body, dict):
        model = body.get("model") or body.get("name")
        if isinstance(model, str):
            return model.strip()
    return ""
