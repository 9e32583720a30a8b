"""The runtime environment of an execution: values, which are secret, ``${ $env.NAME }`` expansion and
redaction of secret values from any text that leaves the runner."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stigmer.api.v1 import common_pb2, execution_pb2

_ENV_REF = re.compile(r"\$\{\s*\$env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")
REDACTED = "***"


class MissingEnvError(Exception):
    """A ``${ $env.NAME }`` reference names a variable the execution does not have."""


@dataclass(frozen=True)
class RuntimeEnv:
    values: Mapping[str, str] = field(default_factory=dict)
    secret_names: frozenset[str] = frozenset()

    @property
    def secret_values(self) -> list[str]:
        return [self.values[name] for name in self.secret_names if self.values.get(name)]

    def redactor(self) -> Redactor:
        return Redactor(self.secret_values)

    @classmethod
    def from_proto(cls, message: execution_pb2.RuntimeEnv) -> RuntimeEnv:
        return cls(dict(message.values), frozenset(message.secret_names))


def from_spec(declared: Iterable[common_pb2.EnvVar], given: Mapping[str, execution_pb2.RuntimeEnvValue]) -> RuntimeEnv:
    """Declared defaults, then the execution's values (used only when the server lacks GetRuntimeEnv)."""
    values: dict[str, str] = {}
    secrets: set[str] = set()
    for var in declared:
        if var.default_value:
            values[var.name] = var.default_value
        if var.secret:
            secrets.add(var.name)
    for name, value in given.items():
        values[name] = value.value
        if value.secret:
            secrets.add(name)
    return RuntimeEnv(values, frozenset(secrets))


def expand(text: str, values: Mapping[str, str], where: str) -> str:
    """``text`` with every ``${ $env.NAME }`` replaced by its value; ``MissingEnvError`` names ``where``."""

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise MissingEnvError(
                f"{where} reads ${{ $env.{name} }} but the execution has no {name} "
                f"(give it with: stigmer run ... --runtime-env {name}=VALUE)"
            )
        return values[name]

    return _ENV_REF.sub(value_of, text)


def expand_all(mapping: Mapping[str, str], values: Mapping[str, str], where: str) -> dict[str, str]:
    return {key: expand(value, values, f"{where} {key}") for key, value in mapping.items()}


class Redactor:
    """Replaces every secret value in a text by ``***`` (longest first, so overlapping secrets go too)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text
