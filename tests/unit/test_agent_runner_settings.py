"""What the agent-runner reads from its environment, and the redacting copy of MCP servers' stderr."""

from __future__ import annotations

import io
import os
from pathlib import Path

from stigmer.agent_runner.settings import from_environ
from stigmer.agent_runner.stderr_pipe import RedactingPipe


def test_settings_from_the_stack_environment(tmp_path: Path) -> None:
    settings = from_environ(
        {
            "STIGMER_HOME": str(tmp_path),
            "STIGMER_SERVER_ADDR": "127.0.0.1:7300",
            "STIGMER_TEMPORAL_ADDR": "127.0.0.1:7301",
            "OLLAMA_HOST": "http://127.0.0.1:11500",
            "STIGMER_LLM_MODEL": "qwen2.5:0.5b",
            "STIGMER_READY_FILE": str(tmp_path / "run" / "x.ready"),
        }
    )
    assert (settings.server_addr, settings.temporal_addr) == ("127.0.0.1:7300", "127.0.0.1:7301")
    assert (settings.ollama_host, settings.model_override) == ("http://127.0.0.1:11500", "qwen2.5:0.5b")
    assert settings.ready_file == tmp_path / "run" / "x.ready"
    assert settings.workspace_root == tmp_path.resolve() / "workspace"


def test_defaults_without_model_override_or_ready_file(tmp_path: Path) -> None:
    settings = from_environ({"STIGMER_HOME": str(tmp_path)})
    assert settings.model_override is None
    assert settings.ready_file == tmp_path.resolve() / "run" / "agent-runner.ready"
    assert settings.read_token() == ""
    (tmp_path / "runner.token").write_text("abc\n")
    assert settings.read_token() == "abc"


def test_a_server_process_stderr_is_copied_with_secrets_redacted() -> None:
    out = io.StringIO()
    pipe = RedactingPipe("[mcp:x] ", lambda text: text.replace("hunter2", "***"), out)
    os.write(pipe.writer.fileno(), b"token hunter2\nsecond line\n")
    pipe.close()
    assert out.getvalue() == "[mcp:x] token ***\n[mcp:x] second line\n"
