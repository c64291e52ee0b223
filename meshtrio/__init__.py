"""meshtrio: bring up a mesh of hosts, spawn procs on them, configure and tear them down.

A Python/Trio rebuild of the host-mesh layer of Meta's Monarch (``hyperactor_mesh``). Every
host agent and every proc is owned by a Trio nursery; cancellation scopes and timeouts are the
lifecycle. Layers, bottom to top (each imports only from those below it):

1. values: :mod:`meshtrio.slicing`, :mod:`meshtrio.ids`, :mod:`meshtrio.addr`,
   :mod:`meshtrio.status`, :mod:`meshtrio.bootstrap`, :mod:`meshtrio.host_ref`,
   :mod:`meshtrio.errors`;
2. :mod:`meshtrio.config`;
3. wire and transport: :mod:`meshtrio.wire`, :mod:`meshtrio.messages`,
   :mod:`meshtrio.transport`;
4. agents: :mod:`meshtrio.host` (agent, launcher), :mod:`meshtrio.proc`;
5. meshes: :mod:`meshtrio.host_mesh`, :mod:`meshtrio.proc_mesh`, :mod:`meshtrio.local_mesh`;
6. entry points: ``python -m meshtrio``, :mod:`meshtrio.testing`.
"""

from meshtrio import config as config
from meshtrio.addr import ChannelAddr as ChannelAddr
from meshtrio.bootstrap import BootstrapCommand as BootstrapCommand
from meshtrio.errors import (
    ConfigPushError as ConfigPushError,
)
from meshtrio.errors import (
    HostFailure as HostFailure,
)
from meshtrio.errors import (
    HostMeshRefParseError as HostMeshRefParseError,
)
from meshtrio.errors import (
    HostsError as HostsError,
)
from meshtrio.errors import (
    MeshError as MeshError,
)
from meshtrio.errors import (
    PointParseError as PointParseError,
)
from meshtrio.errors import (
    ProcCreationError as ProcCreationError,
)
from meshtrio.errors import (
    ProcMeshStopError as ProcMeshStopError,
)
from meshtrio.errors import (
    ProcSpawnError as ProcSpawnError,
)
from meshtrio.errors import (
    RegionParseError as RegionParseError,
)
from meshtrio.errors import (
    ShutdownError as ShutdownError,
)
from meshtrio.host.agent import serve_host_agent as serve_host_agent
from meshtrio.host_mesh import HostMesh as HostMesh
from meshtrio.host_mesh import ShutdownReport as ShutdownReport
from meshtrio.host_mesh import StopReport as StopReport
from meshtrio.host_mesh import attach as attach
from meshtrio.host_ref import HostMeshRef as HostMeshRef
from meshtrio.host_ref import HostRef as HostRef
from meshtrio.ids import HostMeshId as HostMeshId
from meshtrio.ids import Label as Label
from meshtrio.ids import ProcId as ProcId
from meshtrio.ids import ProcMeshId as ProcMeshId
from meshtrio.local_mesh import open_host_mesh_in_process as open_host_mesh_in_process
from meshtrio.local_mesh import open_host_mesh_processes as open_host_mesh_processes
from meshtrio.messages import HostInfo as HostInfo
from meshtrio.proc_mesh import ProcMesh as ProcMesh
from meshtrio.proc_mesh import ProcRef as ProcRef
from meshtrio.slicing import Extent as Extent
from meshtrio.slicing import Point as Point
from meshtrio.slicing import Region as Region
from meshtrio.slicing import ValueMesh as ValueMesh
from meshtrio.status import ProcState as ProcState
from meshtrio.status import Status as Status

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
