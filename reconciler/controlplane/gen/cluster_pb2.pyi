from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchCiliumNetworkPoliciesRequest(_message.Message):
    __slots__ = ("region", "version_last_seen")
    REGION_FIELD_NUMBER: _ClassVar[int]
    VERSION_LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    region: str
    version_last_seen: int
    def __init__(self, region: _Optional[str] = ..., version_last_seen: _Optional[int] = ...) -> None: ...

class GetDesiredCiliumNetworkPolicyStateRequest(_message.Message):
    __slots__ = ("cilium_network_policy_id",)
    CILIUM_NETWORK_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    cilium_network_policy_id: str
    def __init__(self, cilium_network_policy_id: _Optional[str] = ...) -> None: ...

class ListDesiredCiliumNetworkPoliciesRequest(_message.Message):
    __slots__ = ("region",)
    REGION_FIELD_NUMBER: _ClassVar[int]
    region: str
    def __init__(self, region: _Optional[str] = ...) -> None: ...

class CiliumNetworkPolicyState(_message.Message):
    __slots__ = ("apply", "delete", "version")
    APPLY_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    apply: ApplyCiliumNetworkPolicy
    delete: DeleteCiliumNetworkPolicy
    version: int
    def __init__(self, apply: _Optional[_Union[ApplyCiliumNetworkPolicy, _Mapping]] = ..., delete: _Optional[_Union[DeleteCiliumNetworkPolicy, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class ApplyCiliumNetworkPolicy(_message.Message):
    __slots__ = ("k8s_namespace", "k8s_name", "cilium_network_policy_id", "policy")
    K8S_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    K8S_NAME_FIELD_NUMBER: _ClassVar[int]
    CILIUM_NETWORK_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    k8s_namespace: str
    k8s_name: str
    cilium_network_policy_id: str
    policy: bytes
    def __init__(self, k8s_namespace: _Optional[str] = ..., k8s_name: _Optional[str] = ..., cilium_network_policy_id: _Optional[str] = ..., policy: _Optional[bytes] = ...) -> None: ...

class DeleteCiliumNetworkPolicy(_message.Message):
    __slots__ = ("k8s_namespace", "k8s_name", "cilium_network_policy_id")
    K8S_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    K8S_NAME_FIELD_NUMBER: _ClassVar[int]
    CILIUM_NETWORK_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    k8s_namespace: str
    k8s_name: str
    cilium_network_policy_id: str
    def __init__(self, k8s_namespace: _Optional[str] = ..., k8s_name: _Optional[str] = ..., cilium_network_policy_id: _Optional[str] = ...) -> None: ...
