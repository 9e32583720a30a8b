"""Environment variables declared by agents and workflows."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from stigmer.api.v1 import common_pb2
from stigmer.api.validation import env_problems
from stigmer.sdk.checks import check, scoped
from stigmer.sdk.expressions import env_ref
from stigmer.sdk.variables import Var, resolve_text


@dataclass(frozen=True)
class EnvVar:
    """An environment variable an agent or workflow needs at run time.

    Secrets (``secret=True``) are given per execution (``stigmer run --runtime-env secret:KEY=VAL``)
    and referenced with ``env_var.ref`` (``${ $env.KEY }``), never written into code.
    """

    name: str
    _: KW_ONLY
    secret: bool = False
    description: str | Var[str] = ""
    default: str | Var[str] = ""
    required: bool = False

    def __post_init__(self) -> None:
        check(scoped(env_problems("env", [self.to_proto()]), "env[0]"), f"env var {self.name!r}")

    @property
    def ref(self) -> str:
        """The runtime expression that reads this variable: ``${ $env.NAME }``."""
        return env_ref(self.name)

    def to_proto(self) -> common_pb2.EnvVar:
        """The ``stigmer.api.v1.EnvVar`` message, with context values resolved."""
        subject = f"env var {self.name!r}"
        return common_pb2.EnvVar(
            name=resolve_text(self.name, "name", subject),
            description=resolve_text(self.description, "description", subject),
            default_value=resolve_text(self.default, "default", subject),
            secret=bool(self.secret),
            required=bool(self.required),
        )
