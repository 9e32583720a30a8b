"""Settings: environment over config.yaml over defaults, and clear errors for bad configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

import stigmer.config as config
from stigmer.config import ConfigError, load_settings


def test_defaults_without_config_file(tmp_path: Path) -> None:
    settings = load_settings({"STIGMER_HOME": str(tmp_path)})
    assert settings.home == tmp_path.resolve()
    assert settings.server_addr == "127.0.0.1:7234"
    assert settings.temporal_addr == "127.0.0.1:7233"
    assert settings.ollama_host == config.DEFAULT_OLLAMA_HOST
    assert settings.llm_model == "", "no model override unless the user sets one: agents run their own"
    assert settings.agent_runner_mode == "process"
    assert settings.db_path == tmp_path.resolve() / "stigmer.db"
    assert settings.log_file("stigmer-server") == tmp_path.resolve() / "logs" / "stigmer-server.log"
    assert settings.pid_file("temporal") == tmp_path.resolve() / "pids" / "temporal.pid"


def test_home_defaults_to_dot_stigmer_in_the_user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings({}).home == (tmp_path / ".stigmer").resolve()


def test_config_file_overrides_defaults_and_environment_overrides_both(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server_addr: 127.0.0.1:9000\nllm_model: qwen2.5:0.5b\n")
    from_file = load_settings({"STIGMER_HOME": str(tmp_path)})
    assert from_file.server_addr == "127.0.0.1:9000"
    assert from_file.llm_model == "qwen2.5:0.5b"
    assert from_file.temporal_addr == "127.0.0.1:7233"

    from_env = load_settings({"STIGMER_HOME": str(tmp_path), "STIGMER_SERVER_ADDR": "127.0.0.1:9100"})
    assert from_env.server_addr == "127.0.0.1:9100"
    assert from_env.llm_model == "qwen2.5:0.5b"


@pytest.mark.parametrize(
    ("var", "attribute", "value"),
    [
        ("STIGMER_SERVER_ADDR", "server_addr", "127.0.0.1:1"),
        ("STIGMER_TEMPORAL_ADDR", "temporal_addr", "127.0.0.1:2"),
        ("OLLAMA_HOST", "ollama_host", "http://127.0.0.1:3"),
        ("STIGMER_LLM_MODEL", "llm_model", "tiny"),
        ("STIGMER_AGENT_RUNNER_MODE", "agent_runner_mode", "docker"),
        ("STIGMER_SERVER_TEMPORAL_ADDR", "server_temporal_addr", "127.0.0.1:4"),
        ("STIGMER_RUNNER_TEMPORAL_ADDR", "runner_temporal_addr", "127.0.0.1:5"),
        ("STIGMER_RUNNER_SERVER_ADDR", "runner_server_addr", "127.0.0.1:6"),
    ],
)
def test_each_environment_variable_sets_its_setting(tmp_path: Path, var: str, attribute: str, value: str) -> None:
    settings = load_settings({"STIGMER_HOME": str(tmp_path), var: value})
    assert getattr(settings, attribute) == value


def test_empty_config_file_means_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("")
    assert load_settings({"STIGMER_HOME": str(tmp_path)}).server_addr == config.DEFAULT_SERVER_ADDR


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server_addr: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: not valid YAML"):
        load_settings({"STIGMER_HOME": str(tmp_path)})


def test_config_file_must_be_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("- server_addr\n")
    with pytest.raises(ConfigError, match="expected a mapping of settings, got list"):
        load_settings({"STIGMER_HOME": str(tmp_path)})


def test_unknown_keys_are_rejected_and_the_known_ones_listed(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server_address: 127.0.0.1:1\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) server_address; known: .*server_addr"):
        load_settings({"STIGMER_HOME": str(tmp_path)})


def test_bad_agent_runner_mode_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'podman' is not one of process, docker"):
        load_settings({"STIGMER_HOME": str(tmp_path), "STIGMER_AGENT_RUNNER_MODE": "podman"})


def test_components_default_to_all(tmp_path: Path) -> None:
    assert load_settings({"STIGMER_HOME": str(tmp_path)}).components == config.COMPONENTS


def test_components_from_config_list_string_and_environment(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("components: [stigmer-server, temporal]\n")
    assert load_settings({"STIGMER_HOME": str(tmp_path)}).components == ("stigmer-server", "temporal")
    (tmp_path / "config.yaml").write_text("components: stigmer-server\n")
    assert load_settings({"STIGMER_HOME": str(tmp_path)}).components == ("stigmer-server",)
    from_env = load_settings({"STIGMER_HOME": str(tmp_path), "STIGMER_COMPONENTS": "temporal, agent-runner"})
    assert from_env.components == ("temporal", "agent-runner")


def test_unknown_component_names_its_source(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("components: [stigmer-server, warp-drive]\n")
    with pytest.raises(ConfigError, match=r"config\.yaml \(components\): unknown component\(s\) warp-drive; known:"):
        load_settings({"STIGMER_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="STIGMER_COMPONENTS: no component named"):
        load_settings({"STIGMER_HOME": str(tmp_path), "STIGMER_COMPONENTS": " , "})


@pytest.mark.parametrize(
    "var",
    [
        "STIGMER_SERVER_ADDR",
        "STIGMER_TEMPORAL_ADDR",
        "STIGMER_SERVER_TEMPORAL_ADDR",
        "STIGMER_RUNNER_TEMPORAL_ADDR",
        "STIGMER_RUNNER_SERVER_ADDR",
    ],
)
@pytest.mark.parametrize("value", [":99999", "127.0.0.1", ":0", "127.0.0.1:x"])
def test_bad_address_in_environment_is_an_error(tmp_path: Path, var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{var}: "):
        load_settings({"STIGMER_HOME": str(tmp_path), var: value})


def test_bad_address_in_config_file_names_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("temporal_addr: 'localhost:70000'\n")
    with pytest.raises(ConfigError, match=r"config\.yaml \(temporal_addr\): 'localhost:70000': port 70000 is out"):
        load_settings({"STIGMER_HOME": str(tmp_path)})


def test_runtime_paths(tmp_path: Path) -> None:
    settings = load_settings({"STIGMER_HOME": str(tmp_path)})
    assert settings.state_file == tmp_path.resolve() / "run" / "stack.json"
    assert settings.ready_file("agent-runner") == tmp_path.resolve() / "run" / "agent-runner.ready"


def test_dial_addresses_default_to_the_listen_addresses_and_config_file_sets_them(tmp_path: Path) -> None:
    plain = load_settings({"STIGMER_HOME": str(tmp_path), "STIGMER_SERVER_ADDR": "127.0.0.1:1"})
    assert plain.server_temporal_dial == plain.temporal_addr == plain.runner_temporal_dial
    assert plain.runner_server_dial == "127.0.0.1:1"
    (tmp_path / "config.yaml").write_text(
        "server_temporal_addr: 127.0.0.1:11\nrunner_temporal_addr: 127.0.0.1:12\nrunner_server_addr: 127.0.0.1:13\n"
    )
    proxied = load_settings({"STIGMER_HOME": str(tmp_path)})
    assert (proxied.server_temporal_dial, proxied.runner_temporal_dial, proxied.runner_server_dial) == (
        "127.0.0.1:11",
        "127.0.0.1:12",
        "127.0.0.1:13",
    )
    assert proxied.temporal_addr == "127.0.0.1:7233", "the listen address does not follow a dial override"


def test_health_grace_from_environment_and_config_file(tmp_path: Path) -> None:
    assert load_settings({"STIGMER_HOME": str(tmp_path)}).health_grace_seconds == 30.0
    (tmp_path / "config.yaml").write_text("health_grace_seconds: 12\n")
    assert load_settings({"STIGMER_HOME": str(tmp_path)}).health_grace_seconds == 12.0
    env = {"STIGMER_HOME": str(tmp_path), "STIGMER_HEALTH_GRACE_SECONDS": "2.5"}
    assert load_settings(env).health_grace_seconds == 2.5


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_bad_health_grace_names_its_source(tmp_path: Path, value: str) -> None:
    expected = r"^STIGMER_HEALTH_GRACE_SECONDS: expected a number of seconds greater than 0"
    with pytest.raises(ConfigError, match=expected):
        load_settings({"STIGMER_HOME": str(tmp_path), "STIGMER_HEALTH_GRACE_SECONDS": value})
