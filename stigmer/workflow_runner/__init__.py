"""The workflow-runner: a Temporal worker that executes workflow executions.

``python -m stigmer.workflow_runner`` polls task queue ``stigmer-workflows`` for Temporal
workflows of type ``WorkflowExecution`` (workflow ID and only argument: the execution ID),
loads the execution's pinned workflow from stigmer-server, interprets its tasks (``interpreter``,
``expressions``), performs their side effects in activities (``activities``) and reports
progress back (``reporting``). Environment: ``STIGMER_HOME`` (its ``runner.token``),
``STIGMER_SERVER_ADDR``, ``STIGMER_TEMPORAL_ADDR``.
"""

TASK_QUEUE = "stigmer-workflows"
WORKFLOW_TYPE = "WorkflowExecution"
