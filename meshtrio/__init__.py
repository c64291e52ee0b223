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
"""

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
from meshtrio._util import fixup_module_metadata
from meshtrio.errors import ActorDiedError as ActorDiedError
from meshtrio.errors import ActorError as ActorError
from meshtrio.errors import ActorFailedError as ActorFailedError
from meshtrio.errors import AddrParseError as AddrParseError
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
    "ShutdownError",
    "ShutdownReport",
    "SliceError",
    "SpawnConfigurationError",
    "Status",
    "StopReport",
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

fixup_module_metadata(__name__, __all__)
del fixup_module_metadata
