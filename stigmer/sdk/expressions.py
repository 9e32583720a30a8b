"""Runtime expressions: ``${ ... }`` jq expressions, as in the CNCF Serverless Workflow DSL 1.0."""

from __future__ import annotations

from stigmer.api.v1 import common_pb2
from stigmer.api.validation import Problem, ValidationError, env_problems
from stigmer.sdk.checks import check, scoped


def is_expr(value: object) -> bool:
    """Whether ``value`` is a whole ``${ ... }`` expression."""
    return isinstance(value, str) and value.strip().startswith("${")


def expr(expression: str) -> str:
    """The runtime expression for a jq program: ``expr(".fetch.title")`` is ``"${ .fetch.title }"``.

    An expression that is already wrapped in ``${ }`` is returned unchanged.
    """
    if is_expr(expression):
        return expression
    program = expression.strip()
    if not program:
        raise ValidationError([Problem("expression", "expression is empty")])
    return f"${{ {program} }}"


def env_ref(name: str) -> str:
    """The expression reading a runtime environment variable: ``env_ref("SLACK_TOKEN")`` is
    ``"${ $env.SLACK_TOKEN }"``. Use it for secrets instead of writing their values into code."""
    check(scoped(env_problems("env", [common_pb2.EnvVar(name=name)]), "env[0]"), "env_ref")
    return f"${{ $env.{name} }}"
