"""The runtime environment of an execution: values, which are secret, ``${ $env.NAME }`` expansion and
redaction of secret values from any text that leaves the runner."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stigmer.api.v1 import execution_pb2
from stigmer.api.v1.common_pb2 import EnvVar
from stigmer.secret_text import longest_first, replace_secrets

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

    def for_declared(self, declared: Iterable[EnvVar]) -> RuntimeEnv:
        """The environment of an agent that declares ``declared`` and runs inside this one (a sub-agent by
        reference): only the variables it declares, valued from this environment or else by its own
        defaults; secret when it declares them secret or this environment holds them as secrets."""
        values: dict[str, str] = {}
        secret: set[str] = set()
        for var in declared:
            if var.name in self.values:
                values[var.name] = self.values[var.name]
            elif var.default_value:
                values[var.name] = var.default_value
            if var.secret or var.name in self.secret_names:
                secret.add(var.name)
        return RuntimeEnv(values, frozenset(secret & values.keys()))


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
        self._replacements = longest_first((secret, REDACTED) for secret in set(secrets))

    def __call__(self, text: str) -> str:
        return replace_secrets(text, self._replacements)
