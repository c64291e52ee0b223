"""meshtrio: bring up a mesh of hosts, spawn procs on them, configure and tear them down.

A Python/Trio rebuild of the host-mesh layer of Meta's Monarch (``hyperactor_mesh``). Every
host agent and every proc is owned by a Trio nursery; cancellation scopes and timeouts are the
lifecycle. Layers, bottom to top (each imports only from those below it):

1. values: :mod:`meshtrio._slicing`, :mod:`meshtrio._ids`, :mod:`meshtrio._addr`,
   :mod:`meshtrio._status`, :mod:`meshtrio._bootstrap`, :mod:`meshtrio._host_ref`,
   :mod:`meshtrio.errors`;
2. :mod:`meshtrio.config`;
3. wire and transport: :mod:`meshtrio._wire`, :mod:`meshtrio._messages`,
   :mod:`meshtrio._transport`;
4. agents: :mod:`meshtrio._host` (agent, launcher), :mod:`meshtrio._proc`;
5. meshes: :mod:`meshtrio._host_mesh`, :mod:`meshtrio._proc_mesh`, :mod:`meshtrio._local_mesh`;
6. entry points: ``python -m meshtrio``, :mod:`meshtrio.testing`.
"""

from meshtrio import config as config
from meshtrio._addr import ChannelAddr as ChannelAddr
from meshtrio._bootstrap import BootstrapCommand as BootstrapCommand
from meshtrio._errors import (
    ConfigPushError as ConfigPushError,
)
from meshtrio._errors import (
    HostFailure as HostFailure,
)
from meshtrio._errors import (
    HostMeshRefParseError as HostMeshRefParseError,
)
from meshtrio._errors import (
    HostsError as HostsError,
)
from meshtrio._errors import (
    MeshError as MeshError,
)
from meshtrio._errors import (
    PointParseError as PointParseError,
)
from meshtrio._errors import (
    ProcCreationError as ProcCreationError,
)
from meshtrio._errors import (
    ProcMeshStopError as ProcMeshStopError,
)
from meshtrio._errors import (
    ProcSpawnError as ProcSpawnError,
)
from meshtrio._errors import (
    RegionParseError as RegionParseError,
)
from meshtrio._errors import (
    ShutdownError as ShutdownError,
)
from meshtrio._host.agent import serve_host_agent as serve_host_agent
from meshtrio._host_mesh import HostMesh as HostMesh
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
from meshtrio._messages import HostInfo as HostInfo
from meshtrio._proc_mesh import ProcMesh as ProcMesh
from meshtrio._proc_mesh import ProcRef as ProcRef
from meshtrio._slicing import Extent as Extent
from meshtrio._slicing import Point as Point
from meshtrio._slicing import Region as Region
from meshtrio._slicing import ValueMesh as ValueMesh
from meshtrio._status import ProcState as ProcState
from meshtrio._status import Status as Status

__version__ = "0.1.0"

__all__ = [
    "BootstrapCommand",
    "ChannelAddr",
    "ConfigPushError",
    "Extent",
    "HostFailure",
    "HostInfo",
    "HostMesh",
    "HostMeshId",
    "HostMeshRef",
    "HostMeshRefParseError",
    "HostRef",
    "HostsError",
    "Label",
    "MeshError",
    "Point",
    "PointParseError",
    "ProcCreationError",
    "ProcId",
    "ProcMesh",
    "ProcMeshId",
    "ProcMeshStopError",
    "ProcRef",
    "ProcSpawnError",
    "ProcState",
    "Region",
    "RegionParseError",
    "ShutdownError",
    "ShutdownReport",
    "Status",
    "StopReport",
    "ValueMesh",
    "attach",
    "config",
    "open_host_mesh_in_process",
    "open_host_mesh_processes",
    "serve_host_agent",
]
