"""The errors meshtrio raises, by meaning.

Every error that bad input or a failing host can cause is a :class:`MeshError`, and also
subclasses the nearest builtin so that plain ``except ValueError`` (or ``IndexError``,
``KeyError``, ``TimeoutError``, ``ConnectionError``, ``OSError``, ``RuntimeError``) still
catches it. Every class here is also exported from :mod:`meshtrio`::

    MeshError
    ├── InputError (ValueError)               bad text or arguments; nothing was done
    │   ├── RegionParseError                  region text (position and token in the message)
    │   ├── PointParseError                   point text (position and token in the message)
    │   ├── HostMeshRefParseError             host mesh ref text
    │   ├── IdParseError                      labels, host/proc mesh ids
    │   ├── AddrParseError                    channel address text
    │   ├── SliceError                        offset/sizes/strides that are not a valid slice
    │   ├── ExtentError                       duplicate or overlapping labels, bad sizes,
    │   │                                     a point of another extent
    │   ├── EmptyRangeError                   a selection that selects nothing
    │   ├── CardinalityError                  hosts or values not one per rank of the region
    │   ├── ConfigError                       a bad config key, value or snapshot (CF-1, CF-2)
    │   ├── SpawnConfigurationError           a spawn rejected before anything started (PM-1)
    │   ├── PayloadError                      actor arguments that cannot be pickled or sent
    │   └── AdminRefError                     a mesh admin node reference that does not parse
    ├── DimensionError (KeyError)             an unknown dimension label
    ├── AdminNodeNotFoundError (KeyError)     an admin node reference that names nothing
    ├── AdminBusyError (RuntimeError)         every admin lookup slot is taken (AD-1)
    ├── RankIndexError (IndexError)           an index or rank out of range (names dim, size)
    ├── TransportError (ConnectionError)      talking to a host or proc failed on the way
    │   ├── HostUnreachableError              refused, no such socket, name or local listener
    │   ├── AuthRejectedError                 the host refused our token
    │   ├── ProtocolError                     version mismatch, refused handshake, undecodable
    │   │   │                                 or oversized frame (the connection is closed)
    │   │   └── MessageBodyError              a body that does not fit its type (one request)
    │   ├── ConnectionLostError               the connection broke while a request was on it
    │   └── TLSError                          TLS failed: fix the TLS settings (message says how)
    │       ├── TLSVerifyError                the host's certificate: wrong CA, expired, wrong name
    │       ├── TLSRequiredError              a plaintext client on a TLS-only host
    │       └── TLSHandshakeError             TLS client on a plaintext host, client cert refused
    ├── RequestTimeoutError (TimeoutError)    no reply (or no connection) within the deadline
    ├── RendezvousTimeoutError (TimeoutError) fewer hosts announced than expected (RV-4)
    ├── BadAnnouncementError (ValueError)     a rendezvous file that is not an announcement
    ├── RemoteError                           the peer handled the request and answered an error
    │   └── ActorError                        an actor's endpoint or __init__ raised (.rank, ...)
    ├── ActorDiedError                        the actor or its proc is gone (.status, .stderr_tail)
    ├── ActorFailedError                      an unawaited actor failure, out of its mesh's block
    ├── ProcFailedError                       a proc failed after spawn, out of its mesh's block
    ├── NoActorContextError (LookupError)     context()/current_rank() outside an actor
    ├── HostsError                            a mesh-wide request failed on some hosts (.failures)
    │   ├── ConfigPushError                   attach/push_config failed (HM-2, HM-4)
    │   └── ShutdownError                     stop, drain or shutdown failed
    ├── ProcCreationError                     a spawned proc reported a terminating status
    ├── ProcSpawnError (TimeoutError)         the spawn status fence timed out
    ├── ProcMeshStopError                     a proc mesh did not fully stop
    ├── LaunchError (OSError)                 an OS process could not be started
    └── MeshClosedError (RuntimeError)        use of a mesh after this client shut it down

:class:`HostFailure` is not an error: it is the record of one host's failure that
:class:`HostsError` holds, one per failing host.

Neighbours that are easy to confuse (each class's docstring says more):

- the link versus the answer: a :class:`TransportError` means the request did not get
  through (or its reply did not get back); a :class:`RemoteError` means the peer got it and
  answered with an error; a :class:`RequestTimeoutError` means nothing came back in time.
- :class:`HostUnreachableError` (there never was a connection) versus
  :class:`ConnectionLostError` (there was one and it broke: the request may have been handled).
- :class:`MeshClosedError` (this client closed the mesh, like trio's ``ClosedResourceError``)
  versus a :class:`TransportError` (something outside broke it, like ``BrokenResourceError``).
- :class:`ConfigError` (a bad key or value, refused before sending) versus
  :class:`ConfigPushError` (valid config that hosts could not be given).
- :class:`ActorError` (the actor's code raised; the actor lives on) versus
  :class:`ActorDiedError` (the actor or its proc is gone) versus :class:`MeshClosedError`
  (this client stopped the actor mesh, then called it).
- :class:`SpawnConfigurationError` (refused before starting) versus
  :class:`ProcCreationError` (a proc started, or was to be started, and failed) versus
  :class:`ProcSpawnError` (procs that did not report in time).

Errors are short: they name what was wrong and where, never dump payloads. They pickle, so
they survive crossing a process boundary. ``trio.Cancelled`` is never wrapped.
"""

from meshtrio._errors import (
    ActorDiedError as ActorDiedError,
)
from meshtrio._errors import (
    ActorError as ActorError,
)
from meshtrio._errors import (
    ActorFailedError as ActorFailedError,
)
from meshtrio._errors import (
    AddrParseError as AddrParseError,
)
from meshtrio._errors import (
    AdminBusyError as AdminBusyError,
)
from meshtrio._errors import (
    AdminNodeNotFoundError as AdminNodeNotFoundError,
)
from meshtrio._errors import (
    AdminRefError as AdminRefError,
)
from meshtrio._errors import (
    AuthRejectedError as AuthRejectedError,
)
from meshtrio._errors import (
    BadAnnouncementError as BadAnnouncementError,
)
from meshtrio._errors import (
    CardinalityError as CardinalityError,
)
from meshtrio._errors import (
    ConfigError as ConfigError,
)
from meshtrio._errors import (
    ConfigPushError as ConfigPushError,
)
from meshtrio._errors import (
    ConnectionLostError as ConnectionLostError,
)
from meshtrio._errors import (
    DimensionError as DimensionError,
)
from meshtrio._errors import (
    EmptyRangeError as EmptyRangeError,
)
from meshtrio._errors import (
    ExtentError as ExtentError,
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
    HostUnreachableError as HostUnreachableError,
)
from meshtrio._errors import (
    IdParseError as IdParseError,
)
from meshtrio._errors import (
    InputError as InputError,
)
from meshtrio._errors import (
    LaunchError as LaunchError,
)
from meshtrio._errors import (
    MeshClosedError as MeshClosedError,
)
from meshtrio._errors import (
    MeshError as MeshError,
)
from meshtrio._errors import (
    MessageBodyError as MessageBodyError,
)
from meshtrio._errors import (
    NoActorContextError as NoActorContextError,
)
from meshtrio._errors import (
    PayloadError as PayloadError,
)
from meshtrio._errors import (
    PointParseError as PointParseError,
)
from meshtrio._errors import (
    ProcCreationError as ProcCreationError,
)
from meshtrio._errors import (
    ProcFailedError as ProcFailedError,
)
from meshtrio._errors import (
    ProcMeshStopError as ProcMeshStopError,
)
from meshtrio._errors import (
    ProcSpawnError as ProcSpawnError,
)
from meshtrio._errors import (
    ProtocolError as ProtocolError,
)
from meshtrio._errors import (
    RankIndexError as RankIndexError,
)
from meshtrio._errors import (
    RegionParseError as RegionParseError,
)
from meshtrio._errors import (
    RemoteError as RemoteError,
)
from meshtrio._errors import (
    RendezvousTimeoutError as RendezvousTimeoutError,
)
from meshtrio._errors import (
    RequestTimeoutError as RequestTimeoutError,
)
from meshtrio._errors import (
    ShutdownError as ShutdownError,
)
from meshtrio._errors import (
    SliceError as SliceError,
)
from meshtrio._errors import (
    SpawnConfigurationError as SpawnConfigurationError,
)
from meshtrio._errors import (
    TLSError as TLSError,
)
from meshtrio._errors import (
    TLSHandshakeError as TLSHandshakeError,
)
from meshtrio._errors import (
    TLSRequiredError as TLSRequiredError,
)
from meshtrio._errors import (
    TLSVerifyError as TLSVerifyError,
)
from meshtrio._errors import (
    TransportError as TransportError,
)
from meshtrio._util import fixup_module_metadata

__all__ = [
    "ActorDiedError",
    "ActorError",
    "ActorFailedError",
    "AddrParseError",
    "AdminBusyError",
    "AdminNodeNotFoundError",
    "AdminRefError",
    "AuthRejectedError",
    "BadAnnouncementError",
    "CardinalityError",
    "ConfigError",
    "ConfigPushError",
    "ConnectionLostError",
    "DimensionError",
    "EmptyRangeError",
    "ExtentError",
    "HostFailure",
    "HostMeshRefParseError",
    "HostUnreachableError",
    "HostsError",
    "IdParseError",
    "InputError",
    "LaunchError",
    "MeshClosedError",
    "MeshError",
    "MessageBodyError",
    "NoActorContextError",
    "PayloadError",
    "PointParseError",
    "ProcCreationError",
    "ProcFailedError",
    "ProcMeshStopError",
    "ProcSpawnError",
    "ProtocolError",
    "RankIndexError",
    "RegionParseError",
    "RemoteError",
    "RendezvousTimeoutError",
    "RequestTimeoutError",
    "ShutdownError",
    "SliceError",
    "SpawnConfigurationError",
    "TLSError",
    "TLSHandshakeError",
    "TLSRequiredError",
    "TLSVerifyError",
    "TransportError",
]

fixup_module_metadata(__name__, __all__)
del fixup_module_metadata
