"""The agent-runner: a Temporal worker that runs agent executions.

``python -m stigmer.agent_runner`` polls task queue ``stigmer-agents`` for workflow ``AgentExecution``
(workflow ID = execution ID, single argument = the execution ID). The workflow runs one long, heartbeating
activity that loads the execution from stigmer-server, resolves the runtime environment (secrets
included) through ``RunnerService.GetRuntimeEnv``, runs the agent loop against the Ollama HTTP API with
built-in workspace tools, MCP tools and sub-agents, and reports progress with ``UpdateStatus``.

Contracts:

- **Nothing secret enters Temporal**: the workflow's only input is the execution ID; activities return a
  phase name and raise only redacted errors. Every text reported to the server or logged is redacted.
- **Stable report IDs** (the server upserts by them, so a retried activity never duplicates anything):
  agent messages ``agent-<turn>`` (turn counts from 1 per execution), tool calls ``call-<turn>-<index>``,
  a sub-agent's own tool calls ``<parent call id>/call-<turn>-<index>``, system notes ``runner-retry`` (an
  attempt failed on a transient LLM error and is retried) and ``runner-error`` (the failure).
- **Model precedence** (first set wins): the execution's ``config.model`` (an explicit choice for this
  call), then ``STIGMER_LLM_MODEL`` in the runner's environment (the model the stack's LLM serves: it
  replaces the models agents declare, as the daemon always passes the configured one), then the agent's
  (or sub-agent's) own ``model``; an inline sub-agent without one uses its parent's. The per-call model
  applies to the called agent only, not to its sub-agents.
- **Output**: ``output_json`` is ``{"response": "<final text>"}``; the final text is also the last agent
  message.
- **Readiness**: once the worker polls, ``$STIGMER_READY_FILE`` (default
  ``$STIGMER_HOME/run/agent-runner.ready``) holds the PID, written atomically.
"""

TASK_QUEUE = "stigmer-agents"
WORKFLOW_TYPE = "AgentExecution"
