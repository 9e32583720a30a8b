"""``http_call``: one HTTP request with httpx, its response as the task's output.

- ``endpoint`` (http(s) URL), ``method``, ``headers`` and ``query`` (values that are not strings
  are sent as compact JSON), ``body`` (sent as JSON; a string body as text), ``timeout_seconds``
  (default 30, for the whole request).
- POST and PATCH are not idempotent (RFC 9110 §9.2.2), so they carry an ``Idempotency-Key``
  header (unless the task sets one): ``<execution_id>/<task path>`` (``paths.run_key``), the same
  in every retry of the activity, so the receiver can recognise a repeated request.
- The output is the response body parsed as JSON; text when it is not JSON; null when empty.
- A status of 400 or more fails the task with ``{type: communication, status: <code>,
  title: "HTTP <code> <reason>", detail: <start of the body>}`` (not retried: ``try`` decides).
- No answer within ``timeout_seconds`` fails it with ``{type: timeout, status: 408}``; no answer
  at all (connection refused or reset, unknown host) with ``{type: communication, status: 500}``
  (the DSL's default for a communication error: it is not an HTTP 503, which is an answer). Both
  are first tried again ``retries`` times (default 2; see ``workflow._call_options``), with the
  same ``Idempotency-Key``.
- A response body over ``MAX_RESPONSE_BYTES`` (about 1.9 MiB: the output is kept in the engine's
  history and in the execution, which may not pass 4 MiB in all) fails the task with
  ``{type: runtime, status: 413, title: "HTTP response too large"}``, saying how large it was.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from stigmer.workflow_runner.call_errors import failed
from stigmer.workflow_runner.expressions import splice

NON_IDEMPOTENT = ("POST", "PATCH")
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TIMEOUT = 30.0
DETAIL_LIMIT = 500
NO_ANSWER_STATUS = 500
MAX_RESPONSE_BYTES = 2 * 1024 * 1024 - 128 * 1024


def _joined(head: str, reason: str) -> str:
    """``head: reason``, or ``head`` alone when there is no reason (httpx timeouts often have none)."""
    return f"{head}: {reason}" if reason.strip() else head


def _texts(values: Any) -> dict[str, str]:
    if not values:
        return {}
    if not isinstance(values, dict):
        raise failed("validation", 400, "Invalid HTTP call", f"expected an object of names to values, got {values!r}")
    return {str(key): splice(value) for key, value in values.items() if value is not None}


def timeout_of(config: dict[str, Any]) -> float:
    value = config.get("timeout_seconds")
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_TIMEOUT


def build_request(config: dict[str, Any], key: str) -> dict[str, Any]:
    """Keyword arguments for ``httpx.AsyncClient.request``."""
    method = str(config.get("method") or "GET").upper()
    endpoint = config.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise failed("validation", 400, "Invalid HTTP call", f"endpoint {endpoint!r} is not an http(s) URL")
    headers = _texts(config.get("headers"))
    if method in NON_IDEMPOTENT and not any(name.lower() == IDEMPOTENCY_HEADER.lower() for name in headers):
        headers[IDEMPOTENCY_HEADER] = key
    request: dict[str, Any] = {"method": method, "url": endpoint, "headers": headers}
    if config.get("query"):
        request["params"] = _texts(config["query"])
    body = config.get("body")
    if isinstance(body, str):
        request["content"] = body.encode()
    elif body is not None:
        request["json"] = body
    return request


def parse_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return response.text


async def http_call(client: httpx.AsyncClient, config: dict[str, Any], key: str) -> Any:
    """Perform the call; return the parsed body or raise ``CallFailed``."""
    request = build_request(config, key)
    timeout = timeout_of(config)
    target = f"{request['method']} {request['url']}"  # scrubbed of secrets with the rest of the error
    try:
        response = await client.request(**request, timeout=timeout)
    except httpx.TimeoutException as exc:
        detail = _joined(f"{target}: no answer within {timeout:g} s", str(exc))
        raise failed("timeout", 408, "HTTP request timed out", detail, retryable=True) from None
    except httpx.RequestError as exc:
        detail = _joined(f"{target}: {type(exc).__name__}", str(exc))
        raise failed("communication", NO_ANSWER_STATUS, "HTTP request failed", detail, retryable=True) from None
    if response.status_code >= 400:
        title = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        raise failed("communication", response.status_code, title, response.text[:DETAIL_LIMIT])
    if len(response.content) > MAX_RESPONSE_BYTES:
        detail = (
            f"{target}: the response is {len(response.content):,} bytes, over the limit of "
            f"{MAX_RESPONSE_BYTES:,} bytes for a task's output (the engine records every output): "
            "ask for less (a page, a filter, a smaller resource)"
        )
        raise failed("runtime", 413, "HTTP response too large", detail)
    return parse_body(response)
