"""meshtrio: bring up a mesh of hosts, spawn procs on them, configure and tear them down.

A Python/Trio rebuild of the host-mesh layer of Meta's Monarch (``hyperactor_mesh``). Every
host agent and every proc is owned by a Trio nursery; cancellation scopes and timeouts are the
lifecycle. Layers, bottom to top (each imports only from those below it):

1. values: :mod:`meshtrio._slicing`, :mod:`meshtrio._ids`, :mod:`meshtrio._addr`,
   :mod:`meshtrio._status`, :mod:`meshtrio._bootstrap`, :mod:`meshtrio._host_ref`,
   :mod:`meshtrio._actor_class` (Actor, endpoint, context), :mod:`meshtrio.errors`;
2. :mod:`meshtrio.config`;
3. wire and transport: :mod:`meshtrio._wire`, :mod:`meshtrio._messages`,
   :mod:`meshtrio._actor_messages`, :mod:`meshtrio._payload`, :mod:`meshtrio._transport`,
   :mod:`meshtrio._pool`;
4. agents: :mod:`meshtrio._host` (agent, launcher), :mod:`meshtrio._proc` (runtime, actors);
5. meshes: :mod:`meshtrio._host_mesh`, :mod:`meshtrio._proc_mesh`, :mod:`meshtrio._actor_mesh`,
   :mod:`meshtrio._local_mesh`;
6. entry points: ``python -m meshtrio``, :mod:`meshtrio.testing`.

Invariant owned here: LZ-1 (a light facade): ``import meshtrio`` imports none of those modules;
each public name is loaded on its first use (``meshtrio.X``, ``from meshtrio import X``), so
``python -m meshtrio proc`` loads only the proc runtime and what it imports, never the host
agent or the mesh layer. ``dir(meshtrio)`` and ``__all__`` list every name all along. Not
promised: a public class says it lives in ``meshtrio`` (its ``__module__``) only once it was
looked up through the facade; before, it names its private module (pickles work either way).
"""

import importlib
import typing

if typing.TYPE_CHECKING:  # the names, for type checkers; at run time they load on first use
    from meshtrio import config as config
    from meshtrio._actor_class import Actor as Actor
    from meshtrio._actor_class import ActorContext as ActorContext
    from meshtrio._actor_class import context as context
    from meshtrio._actor_class import current_rank as current_rank
    from meshtrio._actor_class import endpoint as endpoint
    from meshtrio._actor_mesh import ActorMesh as ActorMesh
    from meshtrio._actor_mesh import Endpoint as Endpoint
    from meshtrio._addr import ChannelAddr as ChannelAddr
    from meshtrio._admin import Admin as Admin
    from meshtrio._admin import serve_admin as serve_admin
    from meshtrio._admin import spawn_admin as spawn_admin
    from meshtrio._bootstrap import BootstrapCommand as BootstrapCommand
    from meshtrio._host.agent import serve_host_agent as serve_host_agent
    from meshtrio._host_mesh import HostMesh as HostMesh
    from meshtrio._host_mesh import MeshState as MeshState
    from meshtrio._host_mesh import ShutdownReport as ShutdownReport
    from meshtrio._host_mesh import StopReport as StopReport
    from meshtrio._host_mesh import attach as attach
    from meshtrio._host_ref import HostMeshRef as HostMeshRef
    from meshtrio._host_ref import HostRef as HostRef
    from meshtrio._ids import HostMeshId as HostMeshId
    from meshtrio._ids import Label as Label
    from meshtrio._ids import ProcId as ProcId
    from meshtrio._ids import ProcMeshId as ProcMeshId
    from meshtrio._local_mesh import open_host_mesh_in_process as open_host_mesh_in_process
    from meshtrio._local_mesh import open_host_mesh_processes as open_host_mesh_processes
    from meshtrio._proc_mesh import ProcMesh as ProcMesh
    from meshtrio._proc_mesh import ProcRef as ProcRef
    from meshtrio._records import DrainReport as DrainReport
    from meshtrio._records import HostInfo as HostInfo
    from meshtrio._records import LogLine as LogLine
    from meshtrio._rendezvous import hosts_from_dir as hosts_from_dir
    from meshtrio._slicing import Extent as Extent
    from meshtrio._slicing import Point as Point
    from meshtrio._slicing import Region as Region
    from meshtrio._slicing import ValueMesh as ValueMesh
    from meshtrio._stack_records import ProcStacks as ProcStacks
    from meshtrio._stack_records import ThreadStack as ThreadStack
    from meshtrio._status import ProcState as ProcState
    from meshtrio._status import Status as Status
    from meshtrio._supervision import ProcEvent as ProcEvent
    from meshtrio._tls import ServerTLS as ServerTLS
    from meshtrio._tls import TLSConfig as TLSConfig
    from meshtrio.errors import ActorDiedError as ActorDiedError
    from meshtrio.errors import ActorError as ActorError
    from meshtrio.errors import ActorFailedError as ActorFailedError
    from meshtrio.errors import AddrParseError as AddrParseError
    from meshtrio.errors import AdminBusyError as AdminBusyError
    from meshtrio.errors import AdminNodeNotFoundError as AdminNodeNotFoundError
    from meshtrio.errors import AdminRefError as AdminRefError
    from meshtrio.errors import AuthRejectedError as AuthRejectedError
    from meshtrio.errors import BadAnnouncementError as BadAnnouncementError
    from meshtrio.errors import CardinalityError as CardinalityError
    from meshtrio.errors import ConfigError as ConfigError
    from meshtrio.errors import ConfigPushError as ConfigPushError
    from meshtrio.errors import ConnectionLostError as ConnectionLostError
    from meshtrio.errors import DimensionError as DimensionError
    from meshtrio.errors import EmptyRangeError as EmptyRangeError
    from meshtrio.errors import ExtentError as ExtentError
    from meshtrio.errors import HostFailure as HostFailure
    from meshtrio.errors import HostMeshRefParseError as HostMeshRefParseError
    from meshtrio.errors import HostsError as HostsError
    from meshtrio.errors import HostUnreachableError as HostUnreachableError
    from meshtrio.errors import IdParseError as IdParseError
    from meshtrio.errors import InputError as InputError
    from meshtrio.errors import LaunchError as LaunchError
    from meshtrio.errors import MeshClosedError as MeshClosedError
    from meshtrio.errors import MeshError as MeshError
    from meshtrio.errors import MessageBodyError as MessageBodyError
    from meshtrio.errors import NoActorContextError as NoActorContextError
    from meshtrio.errors import PayloadError as PayloadError
    from meshtrio.errors import PointParseError as PointParseError
    from meshtrio.errors import ProcCreationError as ProcCreationError
    from meshtrio.errors import ProcFailedError as ProcFailedError
    from meshtrio.errors import ProcMeshStopError as ProcMeshStopError
    from meshtrio.errors import ProcSpawnError as ProcSpawnError
    from meshtrio.errors import ProtocolError as ProtocolError
    from meshtrio.errors import RankIndexError as RankIndexError
    from meshtrio.errors import RegionParseError as RegionParseError
    from meshtrio.errors import RemoteError as RemoteError
    from meshtrio.errors import RendezvousTimeoutError as RendezvousTimeoutError
    from meshtrio.errors import RequestTimeoutError as RequestTimeoutError
    from meshtrio.errors import ShutdownError as ShutdownError
    from meshtrio.errors import SliceError as SliceError
    from meshtrio.errors import SpawnConfigurationError as SpawnConfigurationError
    from meshtrio.errors import TLSError as TLSError
    from meshtrio.errors import TLSHandshakeError as TLSHandshakeError
    from meshtrio.errors import TLSRequiredError as TLSRequiredError
    from meshtrio.errors import TLSVerifyError as TLSVerifyError
    from meshtrio.errors import TransportError as TransportError

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "ActorContext",
    "ActorDiedError",
    "ActorError",
    "ActorFailedError",
    "ActorMesh",
    "AddrParseError",
    "Admin",
    "AdminBusyError",
    "AdminNodeNotFoundError",
    "AdminRefError",
    "AuthRejectedError",
    "BadAnnouncementError",
    "BootstrapCommand",
    "CardinalityError",
    "ChannelAddr",
    "ConfigError",
    "ConfigPushError",
    "ConnectionLostError",
    "DimensionError",
    "DrainReport",
    "EmptyRangeError",
    "Endpoint",
    "Extent",
    "ExtentError",
    "HostFailure",
    "HostInfo",
    "HostMesh",
    "HostMeshId",
    "HostMeshRef",
    "HostMeshRefParseError",
    "HostRef",
    "HostUnreachableError",
    "HostsError",
    "IdParseError",
    "InputError",
    "Label",
    "LaunchError",
    "LogLine",
    "MeshClosedError",
    "MeshError",
    "MeshState",
    "MessageBodyError",
    "NoActorContextError",
    "PayloadError",
    "Point",
    "PointParseError",
    "ProcCreationError",
    "ProcEvent",
    "ProcFailedError",
    "ProcId",
    "ProcMesh",
    "ProcMeshId",
    "ProcMeshStopError",
    "ProcRef",
    "ProcSpawnError",
    "ProcStacks",
    "ProcState",
    "ProtocolError",
    "RankIndexError",
    "Region",
    "RegionParseError",
    "RemoteError",
    "RendezvousTimeoutError",
    "RequestTimeoutError",
    "ServerTLS",
    "ShutdownError",
    "ShutdownReport",
    "SliceError",
    "SpawnConfigurationError",
    "Status",
    "StopReport",
    "TLSConfig",
    "TLSError",
    "TLSHandshakeError",
    "TLSRequiredError",
    "TLSVerifyError",
    "ThreadStack",
    "TransportError",
    "ValueMesh",
    "attach",
    "config",
    "context",
    "current_rank",
    "endpoint",
    "hosts_from_dir",
    "open_host_mesh_in_process",
    "open_host_mesh_processes",
    "serve_admin",
    "serve_host_agent",
    "spawn_admin",
]

_LAZY: dict[str, str] = {
    "config": "meshtrio.config",
    "Actor": "meshtrio._actor_class",
    "ActorContext": "meshtrio._actor_class",
    "context": "meshtrio._actor_class",
    "current_rank": "meshtrio._actor_class",
    "endpoint": "meshtrio._actor_class",
    "ActorMesh": "meshtrio._actor_mesh",
    "Endpoint": "meshtrio._actor_mesh",
    "ChannelAddr": "meshtrio._addr",
    "Admin": "meshtrio._admin",
    "serve_admin": "meshtrio._admin",
    "spawn_admin": "meshtrio._admin",
    "BootstrapCommand": "meshtrio._bootstrap",
    "serve_host_agent": "meshtrio._host.agent",
    "HostMesh": "meshtrio._host_mesh",
    "MeshState": "meshtrio._host_mesh",
    "ShutdownReport": "meshtrio._host_mesh",
    "StopReport": "meshtrio._host_mesh",
    "attach": "meshtrio._host_mesh",
    "HostMeshRef": "meshtrio._host_ref",
    "HostRef": "meshtrio._host_ref",
    "HostMeshId": "meshtrio._ids",
    "Label": "meshtrio._ids",
    "ProcId": "meshtrio._ids",
    "ProcMeshId": "meshtrio._ids",
    "open_host_mesh_in_process": "meshtrio._local_mesh",
    "open_host_mesh_processes": "meshtrio._local_mesh",
    "ProcMesh": "meshtrio._proc_mesh",
    "ProcRef": "meshtrio._proc_mesh",
    "DrainReport": "meshtrio._records",
    "HostInfo": "meshtrio._records",
    "LogLine": "meshtrio._records",
    "hosts_from_dir": "meshtrio._rendezvous",
    "Extent": "meshtrio._slicing",
    "Point": "meshtrio._slicing",
    "Region": "meshtrio._slicing",
    "ValueMesh": "meshtrio._slicing",
    "ProcStacks": "meshtrio._stack_records",
    "ThreadStack": "meshtrio._stack_records",
    "ProcState": "meshtrio._status",
    "Status": "meshtrio._status",
    "ProcEvent": "meshtrio._supervision",
    "ServerTLS": "meshtrio._tls",
    "TLSConfig": "meshtrio._tls",
    "ActorDiedError": "meshtrio.errors",
    "ActorError": "meshtrio.errors",
    "ActorFailedError": "meshtrio.errors",
    "AddrParseError": "meshtrio.errors",
    "AdminBusyError": "meshtrio.errors",
    "AdminNodeNotFoundError": "meshtrio.errors",
    "AdminRefError": "meshtrio.errors",
    "AuthRejectedError": "meshtrio.errors",
    "BadAnnouncementError": "meshtrio.errors",
    "CardinalityError": "meshtrio.errors",
    "ConfigError": "meshtrio.errors",
    "ConfigPushError": "meshtrio.errors",
    "ConnectionLostError": "meshtrio.errors",
    "DimensionError": "meshtrio.errors",
    "EmptyRangeError": "meshtrio.errors",
    "ExtentError": "meshtrio.errors",
    "HostFailure": "meshtrio.errors",
    "HostMeshRefParseError": "meshtrio.errors",
    "HostsError": "meshtrio.errors",
    "HostUnreachableError": "meshtrio.errors",
    "IdParseError": "meshtrio.errors",
    "InputError": "meshtrio.errors",
    "LaunchError": "meshtrio.errors",
    "MeshClosedError": "meshtrio.errors",
    "MeshError": "meshtrio.errors",
    "MessageBodyError": "meshtrio.errors",
    "NoActorContextError": "meshtrio.errors",
    "PayloadError": "meshtrio.errors",
    "PointParseError": "meshtrio.errors",
    "ProcCreationError": "meshtrio.errors",
    "ProcFailedError": "meshtrio.errors",
    "ProcMeshStopError": "meshtrio.errors",
    "ProcSpawnError": "meshtrio.errors",
    "ProtocolError": "meshtrio.errors",
    "RankIndexError": "meshtrio.errors",
    "RegionParseError": "meshtrio.errors",
    "RemoteError": "meshtrio.errors",
    "RendezvousTimeoutError": "meshtrio.errors",
    "RequestTimeoutError": "meshtrio.errors",
    "ShutdownError": "meshtrio.errors",
    "SliceError": "meshtrio.errors",
    "SpawnConfigurationError": "meshtrio.errors",
    "TLSError": "meshtrio.errors",
    "TLSHandshakeError": "meshtrio.errors",
    "TLSRequiredError": "meshtrio.errors",
    "TLSVerifyError": "meshtrio.errors",
    "TransportError": "meshtrio.errors",
}
"""Where each public name lives: importing ``meshtrio`` loads none of them, so a proc (``python
-m meshtrio proc``) imports only what it needs; the first access loads the module (LZ-1)."""


def __getattr__(name: str) -> typing.Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'meshtrio' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name == f"meshtrio.{name}" else getattr(module, name)
    globals()[name] = value  # later lookups do not come here
    from meshtrio._util import fixup_module_metadata

    fixup_module_metadata(__name__, [name])
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
