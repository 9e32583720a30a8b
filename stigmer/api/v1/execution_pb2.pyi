import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from stigmer.api.v1 import agent_pb2 as _agent_pb2
from stigmer.api.v1 import common_pb2 as _common_pb2
from stigmer.api.v1 import workflow_pb2 as _workflow_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecutionPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_PHASE_UNSPECIFIED: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_PENDING: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_IN_PROGRESS: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_COMPLETED: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_FAILED: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_CANCELLED: _ClassVar[ExecutionPhase]
    EXECUTION_PHASE_SKIPPED: _ClassVar[ExecutionPhase]

class MessageType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_TYPE_UNSPECIFIED: _ClassVar[MessageType]
    MESSAGE_TYPE_HUMAN: _ClassVar[MessageType]
    MESSAGE_TYPE_AGENT: _ClassVar[MessageType]
    MESSAGE_TYPE_TOOL: _ClassVar[MessageType]
    MESSAGE_TYPE_SYSTEM: _ClassVar[MessageType]
EXECUTION_PHASE_UNSPECIFIED: ExecutionPhase
EXECUTION_PHASE_PENDING: ExecutionPhase
EXECUTION_PHASE_IN_PROGRESS: ExecutionPhase
EXECUTION_PHASE_COMPLETED: ExecutionPhase
EXECUTION_PHASE_FAILED: ExecutionPhase
EXECUTION_PHASE_CANCELLED: ExecutionPhase
EXECUTION_PHASE_SKIPPED: ExecutionPhase
MESSAGE_TYPE_UNSPECIFIED: MessageType
MESSAGE_TYPE_HUMAN: MessageType
MESSAGE_TYPE_AGENT: MessageType
MESSAGE_TYPE_TOOL: MessageType
MESSAGE_TYPE_SYSTEM: MessageType

class Message(_message.Message):
    __slots__ = ("type", "content", "timestamp", "id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    type: MessageType
    content: str
    timestamp: _timestamp_pb2.Timestamp
    id: str
    def __init__(self, type: _Optional[_Union[MessageType, str]] = ..., content: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., id: _Optional[str] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "result", "error", "arguments_json", "source", "phase")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    result: str
    error: bool
    arguments_json: str
    source: str
    phase: ExecutionPhase
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., result: _Optional[str] = ..., error: _Optional[bool] = ..., arguments_json: _Optional[str] = ..., source: _Optional[str] = ..., phase: _Optional[_Union[ExecutionPhase, str]] = ...) -> None: ...

class TaskStatus(_message.Message):
    __slots__ = ("name", "phase", "error", "started_at", "completed_at", "output_json", "path", "kind", "run")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    name: str
    phase: ExecutionPhase
    error: str
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    output_json: str
    path: str
    kind: str
    run: int
    def __init__(self, name: _Optional[str] = ..., phase: _Optional[_Union[ExecutionPhase, str]] = ..., error: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., output_json: _Optional[str] = ..., path: _Optional[str] = ..., kind: _Optional[str] = ..., run: _Optional[int] = ...) -> None: ...

class ErrorInfo(_message.Message):
    __slots__ = ("type", "status", "title", "detail", "instance")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    type: str
    status: int
    title: str
    detail: str
    instance: str
    def __init__(self, type: _Optional[str] = ..., status: _Optional[int] = ..., title: _Optional[str] = ..., detail: _Optional[str] = ..., instance: _Optional[str] = ...) -> None: ...

class DispatchState(_message.Message):
    __slots__ = ("waiting", "reason", "attempts", "dispatched_at", "engine_workflow_id", "task_queue")
    WAITING_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DISPATCHED_AT_FIELD_NUMBER: _ClassVar[int]
    ENGINE_WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_QUEUE_FIELD_NUMBER: _ClassVar[int]
    waiting: bool
    reason: str
    attempts: int
    dispatched_at: _timestamp_pb2.Timestamp
    engine_workflow_id: str
    task_queue: str
    def __init__(self, waiting: _Optional[bool] = ..., reason: _Optional[str] = ..., attempts: _Optional[int] = ..., dispatched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., engine_workflow_id: _Optional[str] = ..., task_queue: _Optional[str] = ...) -> None: ...

class ExecutionStatus(_message.Message):
    __slots__ = ("phase", "messages", "tool_calls", "tasks", "error", "started_at", "completed_at", "output_json", "dispatch", "error_info", "cancel_requested", "attempt")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    ERROR_INFO_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    phase: ExecutionPhase
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskStatus]
    error: str
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    output_json: str
    dispatch: DispatchState
    error_info: ErrorInfo
    cancel_requested: bool
    attempt: int
    def __init__(self, phase: _Optional[_Union[ExecutionPhase, str]] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., tasks: _Optional[_Iterable[_Union[TaskStatus, _Mapping]]] = ..., error: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., output_json: _Optional[str] = ..., dispatch: _Optional[_Union[DispatchState, _Mapping]] = ..., error_info: _Optional[_Union[ErrorInfo, _Mapping]] = ..., cancel_requested: _Optional[bool] = ..., attempt: _Optional[int] = ...) -> None: ...

class RuntimeEnvValue(_message.Message):
    __slots__ = ("value", "secret")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    value: str
    secret: bool
    def __init__(self, value: _Optional[str] = ..., secret: _Optional[bool] = ...) -> None: ...

class ExecutionConfig(_message.Message):
    __slots__ = ("model", "temperature", "timeout_seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    temperature: float
    timeout_seconds: int
    def __init__(self, model: _Optional[str] = ..., temperature: _Optional[float] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class AgentExecutionSpec(_message.Message):
    __slots__ = ("agent_id", "agent_name", "message", "runtime_env", "config", "parent_execution_id", "agent_generation", "agent", "request_id", "execution_timeout_seconds")
    class RuntimeEnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RuntimeEnvValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RuntimeEnvValue, _Mapping]] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PARENT_EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_GENERATION_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    agent_name: str
    message: str
    runtime_env: _containers.MessageMap[str, RuntimeEnvValue]
    config: ExecutionConfig
    parent_execution_id: str
    agent_generation: int
    agent: _agent_pb2.AgentSpec
    request_id: str
    execution_timeout_seconds: int
    def __init__(self, agent_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., message: _Optional[str] = ..., runtime_env: _Optional[_Mapping[str, RuntimeEnvValue]] = ..., config: _Optional[_Union[ExecutionConfig, _Mapping]] = ..., parent_execution_id: _Optional[str] = ..., agent_generation: _Optional[int] = ..., agent: _Optional[_Union[_agent_pb2.AgentSpec, _Mapping]] = ..., request_id: _Optional[str] = ..., execution_timeout_seconds: _Optional[int] = ...) -> None: ...

class AgentExecution(_message.Message):
    __slots__ = ("metadata", "spec", "status")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.Metadata
    spec: AgentExecutionSpec
    status: ExecutionStatus
    def __init__(self, metadata: _Optional[_Union[_common_pb2.Metadata, _Mapping]] = ..., spec: _Optional[_Union[AgentExecutionSpec, _Mapping]] = ..., status: _Optional[_Union[ExecutionStatus, _Mapping]] = ...) -> None: ...

class WorkflowExecutionSpec(_message.Message):
    __slots__ = ("workflow_id", "workflow_name", "message", "legacy_input", "runtime_env", "input_json", "workflow_namespace", "workflow_generation", "workflow", "parent_execution_id", "request_id", "execution_timeout_seconds")
    class RuntimeEnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RuntimeEnvValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RuntimeEnvValue, _Mapping]] = ...) -> None: ...
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LEGACY_INPUT_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_GENERATION_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    PARENT_EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    workflow_name: str
    message: str
    legacy_input: _struct_pb2.Struct
    runtime_env: _containers.MessageMap[str, RuntimeEnvValue]
    input_json: str
    workflow_namespace: str
    workflow_generation: int
    workflow: _workflow_pb2.WorkflowSpec
    parent_execution_id: str
    request_id: str
    execution_timeout_seconds: int
    def __init__(self, workflow_id: _Optional[str] = ..., workflow_name: _Optional[str] = ..., message: _Optional[str] = ..., legacy_input: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., runtime_env: _Optional[_Mapping[str, RuntimeEnvValue]] = ..., input_json: _Optional[str] = ..., workflow_namespace: _Optional[str] = ..., workflow_generation: _Optional[int] = ..., workflow: _Optional[_Union[_workflow_pb2.WorkflowSpec, _Mapping]] = ..., parent_execution_id: _Optional[str] = ..., request_id: _Optional[str] = ..., execution_timeout_seconds: _Optional[int] = ...) -> None: ...

class WorkflowExecution(_message.Message):
    __slots__ = ("metadata", "spec", "status")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.Metadata
    spec: WorkflowExecutionSpec
    status: ExecutionStatus
    def __init__(self, metadata: _Optional[_Union[_common_pb2.Metadata, _Mapping]] = ..., spec: _Optional[_Union[WorkflowExecutionSpec, _Mapping]] = ..., status: _Optional[_Union[ExecutionStatus, _Mapping]] = ...) -> None: ...

class CreateAgentExecutionRequest(_message.Message):
    __slots__ = ("agent_ref", "message", "runtime_env", "config", "parent_execution_id", "request_id", "execution_timeout_seconds")
    class RuntimeEnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RuntimeEnvValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RuntimeEnvValue, _Mapping]] = ...) -> None: ...
    AGENT_REF_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PARENT_EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    agent_ref: str
    message: str
    runtime_env: _containers.MessageMap[str, RuntimeEnvValue]
    config: ExecutionConfig
    parent_execution_id: str
    request_id: str
    execution_timeout_seconds: int
    def __init__(self, agent_ref: _Optional[str] = ..., message: _Optional[str] = ..., runtime_env: _Optional[_Mapping[str, RuntimeEnvValue]] = ..., config: _Optional[_Union[ExecutionConfig, _Mapping]] = ..., parent_execution_id: _Optional[str] = ..., request_id: _Optional[str] = ..., execution_timeout_seconds: _Optional[int] = ...) -> None: ...

class CreateWorkflowExecutionRequest(_message.Message):
    __slots__ = ("workflow_ref", "message", "runtime_env", "input_json", "parent_execution_id", "request_id", "execution_timeout_seconds")
    class RuntimeEnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RuntimeEnvValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RuntimeEnvValue, _Mapping]] = ...) -> None: ...
    WORKFLOW_REF_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    PARENT_EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    workflow_ref: str
    message: str
    runtime_env: _containers.MessageMap[str, RuntimeEnvValue]
    input_json: str
    parent_execution_id: str
    request_id: str
    execution_timeout_seconds: int
    def __init__(self, workflow_ref: _Optional[str] = ..., message: _Optional[str] = ..., runtime_env: _Optional[_Mapping[str, RuntimeEnvValue]] = ..., input_json: _Optional[str] = ..., parent_execution_id: _Optional[str] = ..., request_id: _Optional[str] = ..., execution_timeout_seconds: _Optional[int] = ...) -> None: ...

class UpdateStatusRequest(_message.Message):
    __slots__ = ("execution_id", "phase", "messages", "tool_calls", "tasks", "error", "output_json", "error_info", "attempt", "drop_message_ids", "drop_tool_call_ids")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_INFO_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DROP_MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    DROP_TOOL_CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    phase: ExecutionPhase
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskStatus]
    error: str
    output_json: str
    error_info: ErrorInfo
    attempt: int
    drop_message_ids: _containers.RepeatedScalarFieldContainer[str]
    drop_tool_call_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, execution_id: _Optional[str] = ..., phase: _Optional[_Union[ExecutionPhase, str]] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., tasks: _Optional[_Iterable[_Union[TaskStatus, _Mapping]]] = ..., error: _Optional[str] = ..., output_json: _Optional[str] = ..., error_info: _Optional[_Union[ErrorInfo, _Mapping]] = ..., attempt: _Optional[int] = ..., drop_message_ids: _Optional[_Iterable[str]] = ..., drop_tool_call_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListExecutionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "target_ref", "phase")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TARGET_REF_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    target_ref: str
    phase: ExecutionPhase
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., target_ref: _Optional[str] = ..., phase: _Optional[_Union[ExecutionPhase, str]] = ...) -> None: ...

class ListAgentExecutionsResponse(_message.Message):
    __slots__ = ("executions", "next_page_token", "remaining")
    EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    executions: _containers.RepeatedCompositeFieldContainer[AgentExecution]
    next_page_token: str
    remaining: int
    def __init__(self, executions: _Optional[_Iterable[_Union[AgentExecution, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., remaining: _Optional[int] = ...) -> None: ...

class ListWorkflowExecutionsResponse(_message.Message):
    __slots__ = ("executions", "next_page_token", "remaining")
    EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    executions: _containers.RepeatedCompositeFieldContainer[WorkflowExecution]
    next_page_token: str
    remaining: int
    def __init__(self, executions: _Optional[_Iterable[_Union[WorkflowExecution, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., remaining: _Optional[int] = ...) -> None: ...

class RuntimeEnv(_message.Message):
    __slots__ = ("values", "secret_names")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    SECRET_NAMES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, str]
    secret_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Mapping[str, str]] = ..., secret_names: _Optional[_Iterable[str]] = ...) -> None: ...
