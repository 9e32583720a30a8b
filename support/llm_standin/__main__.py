"""Run the LLM stand-in by hand or as a tier's subprocess: ``python -m support.llm_standin --help``."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
A deterministic stand-in for Ollama: it serves the Ollama HTTP API (/api/version, /api/tags,
/api/show, /api/chat with streaming and tool calls) for a fixed set of models, answering each chat by
the first matching rule, else with "Stand-in reply to: <last user message>". It is a test double for
the model only; point the stack at it with OLLAMA_HOST.

Its first line of output is "listening on http://HOST:PORT". It stops cleanly on SIGTERM or Ctrl-C.
Rules and recorded requests are also reachable over HTTP: GET /_standin/requests,
GET|POST|DELETE /_standin/rules, DELETE /_standin/rules/<label>, POST /_standin/release,
POST /_standin/reset.
"""

EPILOG = """\
example, running the stack offline:
  python -m support.llm_standin --port 11434 &
  OLLAMA_HOST=http://127.0.0.1:11434 stigmer run my-agent --message "hello"

rules file (JSON list, first match wins; "times": null means always):
  [{"match": {"user_contains": "weather"},
    "respond": {"kind": "tool_loop", "tool": "get_weather", "arguments": {"city": "Paris"},
                "reply": "It is {result} in Paris."}},
   {"match": {"model": "qwen2.5:0.5b"}, "respond": {"kind": "error", "status": 500, "message": "boom"},
    "times": 1}]
  respond kinds: reply (text, chunks), tool_calls (calls, text), tool_loop (tool, arguments, reply),
  error (status, message), broken_stream (text, after, message), hang (seconds), cut_stream (text,
  after), malformed_tool_call (name, arguments_text); no "respond": the default reply.
  match fields: model, user_contains, user_regex, system_contains, system_regex, tools_offered,
  tool_offered, after_tool (true/false/tool name). Rule fields: times, delay, chunk_delay, name.
"""

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m support.llm_standin",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=11434, help="port to bind, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help="a model it has (repeatable; default: llama3.2:1b and qwen2.5:0.5b)",
    )
    parser.add_argument("--rules", metavar="FILE", help="JSON file of rules to start with")
    parser.add_argument("--quiet", action="store_true", help="do not print a line per request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    import json
    import signal
    import threading
    from pathlib import Path

    from support.llm_standin.rules import RuleError, rules_from_json
    from support.llm_standin.server import LLMStandin
    from support.llm_standin.wire import DEFAULT_MODELS

    try:
        rules = rules_from_json(json.loads(Path(args.rules).read_text())) if args.rules else []
    except (OSError, ValueError, RuleError) as exc:
        print(f"error: cannot read rules from {args.rules}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        standin = LLMStandin(
            args.models or DEFAULT_MODELS, rules, host=args.host, port=args.port, log=None if args.quiet else say
        )
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_ERROR

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    standin.start()
    say(f"listening on {standin.url}")
    say(f"models: {', '.join(standin.models)}; rules: {len(rules)}")
    try:
        stop.wait()
    finally:
        standin.stop()
    say("stopped")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
