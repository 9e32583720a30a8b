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
  message. It is always the final attempt's final text.
- **Retries resume, never repeat** (see ``progress``): a turn that asks for tools is recorded (its text
  and every call, ``PENDING``) before any call runs, and each call's result before the next model turn.
  A retried attempt rebuilds recorded turns instead of asking the model again, feeds back the recorded
  result of every finished call (workspace tool, MCP call, sub-agent: none runs twice) and runs only the
  unfinished ones again under the same call ID. Its first update drops what the earlier attempt left and
  it will not reproduce (``drop_message_ids`` / ``drop_tool_call_ids``: a half-streamed message), so two
  attempts' paths never mix. Every update carries the attempt number (past any attempt recorded in the
  status); the server refuses updates of a superseded attempt (a frozen runner that woke up). A
  transient LLM error inside a sub-agent fails the attempt too (it is retried and resumes inside the
  sub-agent), rather than the sub-agent's call.
- **Idempotency keys**: an MCP ``tools/call`` carries ``<execution id>/<call id>`` in its params'
  ``_meta`` under ``io.stigmer/idempotency-key`` (the same key when a retried attempt runs an unfinished
  call again).
- **Heartbeats and outages**: ``run_agent`` heartbeats every second with a heartbeat timeout of 5 s (a
  killed runner's run is retried within seconds); calls to stigmer-server are retried with backoff while
  it is UNAVAILABLE or does not answer in time, for as long as the activity lives (none is given up, none
  duplicated: they are reads and upserts by ID).
- **Readiness**: once the worker polls, ``$STIGMER_READY_FILE`` (default
  ``$STIGMER_HOME/run/agent-runner.ready``) holds the PID, written atomically.
"""

TASK_QUEUE = "stigmer-agents"
WORKFLOW_TYPE = "AgentExecution"
