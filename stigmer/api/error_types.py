"""The CNCF Serverless Workflow DSL 1.0 standard error types and their default statuses.

Every component that reports an error shape (``ErrorInfo``: type, status, title, detail, instance)
uses these: the workflow-runner for its tasks, the agent-runner for an agent that timed out.
"""

from __future__ import annotations

BASE = "https://serverlessworkflow.io/spec/1.0.0/errors/"
STANDARD_STATUS = {
    "configuration": 400,
    "validation": 400,
    "expression": 400,
    "authentication": 401,
    "authorization": 403,
    "timeout": 408,
    "communication": 500,
    "runtime": 500,
}
ERROR_TYPES = {kind: BASE + kind for kind in STANDARD_STATUS}
