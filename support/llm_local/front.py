"""The front: Ollama's HTTP API over llama.cpp's OpenAI-compatible endpoint.

``GET /`` and ``HEAD /``, ``GET /api/version``, ``GET /api/tags``, ``POST /api/show``, ``POST /api/chat``
(NDJSON stream by default, one object with ``"stream": false``). Errors are ``{"error": "..."}`` with
Ollama's statuses: 400 for a bad request, 404 for another model, 500 when llama.cpp fails (mid-stream:
an error line, as Ollama does). Every answer names the front in its ``Server`` header.

``GET /_local/chats`` lists every chat so far with the model's reply (``journal``), for tests.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Generator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from support.llm_local import catalog, reply
from support.llm_local.journal import Journal
from support.llm_local.model_file import MODEL_NAME, ModelFile
from support.llm_local.request import Plan, RequestError, plan
from support.llm_standin.wire import OLLAMA_VERSION, canonical_model, error_body, model_not_found_for_chat

SERVER_NAME = "stigmer-llm-local"
JOURNAL_PATH = "/_local/chats"
GENERATION_TIMEOUT = 600.0
Log = Callable[[str], None]


class Front:
    """The Ollama API for the model at ``engine_url`` (llama.cpp), bound to ``host:port`` (0: any free port)."""

    def __init__(
        self,
        engine_url: str,
        model: ModelFile,
        *,
        constrain_tools: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Log | None = None,
    ) -> None:
        self.engine_url = engine_url.rstrip("/")
        self.model = model
        self.constrain_tools = constrain_tools
        self.log = log or (lambda line: None)
        self.journal = Journal()
        self._httpd = _Server((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Front:
        """Serve in a background thread; returns at once (the socket already listens)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,), daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Idempotent."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Front:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def generate(self, chat: Plan, model: str) -> Generator[dict[str, Any]]:
        """The Ollama chunks of llama.cpp's answer to ``chat`` (``reply.LlamaError`` when it fails)."""
        translation = reply.Translation(model, chat.constrained)
        timeout = httpx.Timeout(GENERATION_TIMEOUT, connect=5.0)
        with httpx.stream("POST", f"{self.engine_url}/v1/chat/completions", json=chat.body, timeout=timeout) as answer:
            if answer.status_code != HTTPStatus.OK:
                raise reply.LlamaError(f"llama.cpp answered HTTP {answer.status_code}: {_error_text(answer)}")
            for event in reply.sse_events(answer.iter_lines()):
                yield from translation.event(event)
        yield from translation.finish()


def _error_text(answer: httpx.Response) -> str:
    answer.read()
    try:
        return reply.error_message(answer.json().get("error", answer.text))
    except ValueError:
        return answer.text


class _Server(ThreadingHTTPServer):
    server_address: tuple[str, int]
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], front: Front) -> None:
        self.front = front
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            self._send(HTTPStatus.BAD_REQUEST, error_body(f"invalid JSON body: {exc}"))
            return
        front = self.server.front
        route = (method, path)
        try:
            if route in {("GET", "/"), ("HEAD", "/")}:
                self._send(HTTPStatus.OK, "Ollama is running", head_only=method == "HEAD")
            elif route == ("GET", "/api/version"):
                self._send(HTTPStatus.OK, {"version": OLLAMA_VERSION})
            elif route == ("GET", "/api/tags"):
                self._send(HTTPStatus.OK, catalog.tags(front.model))
            elif route == ("POST", "/api/show"):
                self._show(body)
            elif route == ("POST", "/api/chat"):
                self._chat(body)
            elif route == ("GET", JOURNAL_PATH):
                self._send(HTTPStatus.OK, {"chats": [record.to_json() for record in front.journal.chats()]})
            else:
                self._send(HTTPStatus.NOT_FOUND, "404 page not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        front.log(f"{method} {path}")

    def _show(self, body: Any) -> None:
        model = _model_of(body)
        if model != MODEL_NAME:
            self._send(HTTPStatus.NOT_FOUND, error_body(f"model '{model}' not found"))
        else:
            self._send(HTTPStatus.OK, catalog.show(self.server.front.model))

    def _chat(self, body: Any) -> None:
        front = self.server.front
        model = _model_of(body)
        if not model:
            self._send(HTTPStatus.BAD_REQUEST, error_body("model is required"))
            return
        if model != MODEL_NAME:
            self._send(HTTPStatus.NOT_FOUND, error_body(model_not_found_for_chat(body.get("model"))))
            return
        if not body.get("messages"):  # Ollama loads the model and answers at once
            loaded = reply.final(body["model"], "load", {})
            self._send(HTTPStatus.OK, {**loaded, "message": {"role": "assistant", "content": ""}})
            return
        try:
            chat = plan(body, constrain_tools=front.constrain_tools)
        except RequestError as exc:
            self._send(HTTPStatus.BAD_REQUEST, error_body(str(exc)))
            return
        sent: list[dict[str, Any]] = []
        failure = ""
        try:
            if chat.stream:
                failure = self._stream(front.generate(chat, body["model"]), sent)
            else:
                try:
                    sent.append(reply.whole(front.generate(chat, body["model"])))
                except (reply.LlamaError, httpx.HTTPError) as exc:
                    failure = f"the model failed: {exc}"
                    self._send(HTTPStatus.INTERNAL_SERVER_ERROR, error_body(failure))
                else:
                    self._send(HTTPStatus.OK, sent[-1])
        finally:
            done = sent and sent[-1].get("done")
            front.journal.add(body, chat.constrained, reply.whole(sent) if done else {}, failure)

    def _stream(self, chunks: Generator[dict[str, Any]], sent: list[dict[str, Any]]) -> str:
        """Send ``chunks`` as they come (each also appended to ``sent``); the error that ended them, if any."""
        try:
            first = next(chunks)
        except (reply.LlamaError, httpx.HTTPError) as exc:
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, error_body(f"the model failed: {exc}"))
            return f"the model failed: {exc}"
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        failure = ""
        try:
            for part in itertools.chain([first], chunks):
                sent.append(part)
                self._write_chunk(part)
        except (reply.LlamaError, httpx.HTTPError) as exc:
            failure = f"the model failed: {exc}"
            self._write_chunk(error_body(failure))
        finally:
            chunks.close()  # a client that went away ends llama.cpp's generation too
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return failure

    def _write_chunk(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(line):X}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    def _send(self, status: int, payload: Any, head_only: bool = False) -> None:
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head_only:
            self.wfile.write(data)


def _model_of(body: Any) -> str:
    if isinstance(body, dict):
        model = body.get("model") or body.get("name")
        if isinstance(model, str) and model.strip():
            return canonical_model(model)
    return ""
