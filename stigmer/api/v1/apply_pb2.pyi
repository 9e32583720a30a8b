from stigmer.api.v1 import agent_pb2 as _agent_pb2
from stigmer.api.v1 import workflow_pb2 as _workflow_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApplyAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLY_ACTION_UNSPECIFIED: _ClassVar[ApplyAction]
    APPLY_ACTION_CREATED: _ClassVar[ApplyAction]
    APPLY_ACTION_UPDATED: _ClassVar[ApplyAction]
    APPLY_ACTION_UNCHANGED: _ClassVar[ApplyAction]
APPLY_ACTION_UNSPECIFIED: ApplyAction
APPLY_ACTION_CREATED: ApplyAction
APPLY_ACTION_UPDATED: ApplyAction
APPLY_ACTION_UNCHANGED: ApplyAction

class ApplyRequest(_message.Message):
    __slots__ = ("agents", "workflows", "dry_run")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Agent]
    workflows: _containers.RepeatedCompositeFieldContainer[_workflow_pb2.Workflow]
    dry_run: bool
    def __init__(self, agents: _Optional[_Iterable[_Union[_agent_pb2.Agent, _Mapping]]] = ..., workflows: _Optional[_Iterable[_Union[_workflow_pb2.Workflow, _Mapping]]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ApplyResult(_message.Message):
    __slots__ = ("kind", "name", "action", "id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    action: ApplyAction
    id: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., action: _Optional[_Union[ApplyAction, str]] = ..., id: _Optional[str] = ...) -> None: ...

class ApplyResponse(_message.Message):
    __slots__ = ("results", "dry_run")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ApplyResult]
    dry_run: bool
    def __init__(self, results: _Optional[_Iterable[_Union[ApplyResult, _Mapping]]] = ..., dry_run: _Optional[bool] = ...) -> None: ...
