"""A minimal fake of Ollama's ``/api/chat`` for the agent-runner tests (streamed NDJSON, tool calls).

Each request is recorded and answered by ``responder(request) -> FakeReply``. Used until the bundled
LLM stand-in (``support.llm_standin``) is available to these tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeReply:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    chunks: int = 3
    status: int = 200
    error: str = ""
    raw: bytes | None = None  # sent as is (a malformed answer)
    wait: threading.Event | None = None  # block after the first chunk until set (or 30 s)


Responder = Callable[[dict[str, Any]], FakeReply]


def last_user(request: dict[str, Any]) -> str:
    return next((m["content"] for m in reversed(request["messages"]) if m["role"] == "user"), "")


def system_of(request: dict[str, Any]) -> str:
    return next((m["content"] for m in request["messages"] if m["role"] == "system"), "")


def after_tool(request: dict[str, Any]) -> bool:
    return request["messages"][-1]["role"] == "tool"


class FakeOllama:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responder: Responder = lambda request: FakeReply(f"Reply to: {last_user(request)}")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                reply = fake.responder(body)
                if reply.status != 200:
                    self._send(reply.status, json.dumps({"error": reply.error}).encode())
                    return
                if reply.raw is not None:
                    self._send(200, reply.raw)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                for index, line in enumerate(fake.lines(body["model"], reply)):
                    self.wfile.write(json.dumps(line).encode() + b"\n")
                    self.wfile.flush()
                    if index == 0 and reply.wait is not None:
                        reply.wait.wait(30)

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    @staticmethod
    def lines(model: str, reply: FakeReply) -> Iterator[dict[str, Any]]:
        text = reply.text
        size = max(1, -(-len(text) // reply.chunks)) if text else 1
        for start in range(0, len(text), size):
            yield {
                "model": model,
                "message": {"role": "assistant", "content": text[start : start + size]},
                "done": False,
            }
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        if reply.tool_calls:
            message["tool_calls"] = [{"function": {"name": n, "arguments": a}} for n, a in reply.tool_calls]
        yield {"model": model, "message": message, "done": True, "done_reason": "stop"}

    def chats(self) -> list[dict[str, Any]]:
        return list(self.requests)

    @contextmanager
    def running(self) -> Iterator[FakeOllama]:
        thread = threading.Thread(target=self._server.serve_forever, name="fake-ollama", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(10)
