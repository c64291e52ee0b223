"""Layered, typed configuration: keys, their text formats, and the layers a value comes from.

A :class:`Key` declares one setting: its name, default, value kind, doc and whether it
propagates to hosts and procs. A value is looked up through the layers, highest first::

    TestOverride > Env > Runtime > ClientOverride > Default

Invariants this module owns:

- TestOverride, Env and Runtime are process-global; ClientOverride belongs to each
  :class:`Config` (several in-process host agents each keep their own). :data:`GLOBAL` is this
  process's own view.
- Every value stored in any layer has been validated and coerced by its key, so reads never
  fail on a stored value. Setting several values validates all of them before changing anything.
- The Env layer is read lazily, on the first read after import or :func:`reload_env`. Only
  ``MESHTRIO_<KEY>`` variables of known keys are read; a bad one makes every read raise a
  :class:`~meshtrio.errors.ConfigError` naming the variable and its value until the environment
  is reloaded (it is never silently ignored).
- :func:`propagatable` holds the wire values of the *effective* values of the propagating keys,
  so installing it as a peer's ClientOverride pins the client's values there.
- CF-1 (usable ranges): every key has a range that the code using it can take: ints a minimum
  and a maximum, durations at most :data:`DURATION_MAX`. A value outside it is refused with a
  :class:`~meshtrio.errors.ConfigError` where it enters (:func:`configured`, the environment, a
  pushed snapshot), never by the code that uses it later. Not promised: clamped keys
  (concurrencies, ``max_message_size``) are clamped into range rather than refused.
- CF-2 (bounded snapshots): a snapshot that comes from a peer (checked when its message is
  decoded, :func:`check_snapshot`) holds at most :data:`MAX_SNAPSHOT_KEYS` names of at most
  :data:`MAX_NAME_CHARS` characters, each mapped to a scalar (None, bool, an int of at most 64
  bits, a float, or text of at most :data:`MAX_SNAPSHOT_TEXT` characters); anything else,
  nested containers included, is refused. Names of keys this version does not know are
  checked for shape only, then ignored (:func:`split_known`): a host passes its procs only
  keys it knows.
"""

from meshtrio._config import (
    ACTOR_CANCEL_ACK_TIMEOUT as ACTOR_CANCEL_ACK_TIMEOUT,
)
from meshtrio._config import (
    ACTOR_DEATH_REPORT_TIMEOUT as ACTOR_DEATH_REPORT_TIMEOUT,
)
from meshtrio._config import (
    ACTOR_MAILBOX_BYTES as ACTOR_MAILBOX_BYTES,
)
from meshtrio._config import (
    ACTOR_MAILBOX_CAPACITY as ACTOR_MAILBOX_CAPACITY,
)
from meshtrio._config import (
    CONNECT_TIMEOUT as CONNECT_TIMEOUT,
)
from meshtrio._config import (
    DURATION_MAX as DURATION_MAX,
)
from meshtrio._config import (
    GET_PROC_STATE_MAX_IDLE as GET_PROC_STATE_MAX_IDLE,
)
from meshtrio._config import (
    GLOBAL as GLOBAL,
)
from meshtrio._config import (
    HOST_FORK_SERVER as HOST_FORK_SERVER,
)
from meshtrio._config import (
    HOST_ORPHAN_TIMEOUT as HOST_ORPHAN_TIMEOUT,
)
from meshtrio._config import (
    HOST_SPAWN_READY_TIMEOUT as HOST_SPAWN_READY_TIMEOUT,
)
from meshtrio._config import (
    KEYS as KEYS,
)
from meshtrio._config import (
    MAX_MESSAGE_SIZE as MAX_MESSAGE_SIZE,
)
from meshtrio._config import (
    MAX_NAME_CHARS as MAX_NAME_CHARS,
)
from meshtrio._config import (
    MAX_SNAPSHOT_KEYS as MAX_SNAPSHOT_KEYS,
)
from meshtrio._config import (
    MAX_SNAPSHOT_TEXT as MAX_SNAPSHOT_TEXT,
)
from meshtrio._config import (
    MAX_TAIL_LOG_LINES as MAX_TAIL_LOG_LINES,
)
from meshtrio._config import (
    MESH_ATTACH_CONFIG_TIMEOUT as MESH_ATTACH_CONFIG_TIMEOUT,
)
from meshtrio._config import (
    MESH_BOOTSTRAP_ENABLE_PDEATHSIG as MESH_BOOTSTRAP_ENABLE_PDEATHSIG,
)
from meshtrio._config import (
    MESH_ORPHAN_TIMEOUT as MESH_ORPHAN_TIMEOUT,
)
from meshtrio._config import (
    MESH_SPAWN_CONCURRENCY as MESH_SPAWN_CONCURRENCY,
)
from meshtrio._config import (
    MESH_TAIL_LOG_LINES as MESH_TAIL_LOG_LINES,
)
from meshtrio._config import (
    MESH_TERMINATE_CONCURRENCY as MESH_TERMINATE_CONCURRENCY,
)
from meshtrio._config import (
    MESH_TERMINATE_TIMEOUT as MESH_TERMINATE_TIMEOUT,
)
from meshtrio._config import (
    PROC_LOG_RATE as PROC_LOG_RATE,
)
from meshtrio._config import (
    PROC_PRELOAD as PROC_PRELOAD,
)
from meshtrio._config import (
    PROC_SPAWN_MAX_IDLE as PROC_SPAWN_MAX_IDLE,
)
from meshtrio._config import (
    PROC_STOP_MAX_IDLE as PROC_STOP_MAX_IDLE,
)
from meshtrio._config import (
    PROCESS_EXIT_TIMEOUT as PROCESS_EXIT_TIMEOUT,
)
from meshtrio._config import (
    REQUEST_TIMEOUT as REQUEST_TIMEOUT,
)
from meshtrio._config import (
    TCP_USER_TIMEOUT as TCP_USER_TIMEOUT,
)
from meshtrio._config import (
    TLS_CA as TLS_CA,
)
from meshtrio._config import (
    TLS_CERT as TLS_CERT,
)
from meshtrio._config import (
    TLS_KEY as TLS_KEY,
)
from meshtrio._config import (
    Config as Config,
)
from meshtrio._config import (
    Key as Key,
)
from meshtrio._config import (
    Kind as Kind,
)
from meshtrio._config import (
    Layer as Layer,
)
from meshtrio._config import (
    check_snapshot as check_snapshot,
)
from meshtrio._config import (
    clear_runtime as clear_runtime,
)
from meshtrio._config import (
    configure as configure,
)
from meshtrio._config import (
    configured as configured,
)
from meshtrio._config import (
    dump as dump,
)
from meshtrio._config import (
    get as get,
)
from meshtrio._config import (
    get_with_source as get_with_source,
)
from meshtrio._config import (
    isolated as isolated,
)
from meshtrio._config import (
    propagatable as propagatable,
)
from meshtrio._config import (
    reload_env as reload_env,
)
from meshtrio._config import (
    resolve as resolve,
)
from meshtrio._config import (
    split_known as split_known,
)
from meshtrio._config import (
    test_override as test_override,
)
from meshtrio._util import fixup_module_metadata

__all__ = [
    "ACTOR_CANCEL_ACK_TIMEOUT",
    "ACTOR_DEATH_REPORT_TIMEOUT",
    "ACTOR_MAILBOX_BYTES",
    "ACTOR_MAILBOX_CAPACITY",
    "CONNECT_TIMEOUT",
    "DURATION_MAX",
    "GET_PROC_STATE_MAX_IDLE",
    "GLOBAL",
    "HOST_FORK_SERVER",
    "HOST_ORPHAN_TIMEOUT",
    "HOST_SPAWN_READY_TIMEOUT",
    "KEYS",
    "MAX_MESSAGE_SIZE",
    "MAX_NAME_CHARS",
    "MAX_SNAPSHOT_KEYS",
    "MAX_SNAPSHOT_TEXT",
    "MAX_TAIL_LOG_LINES",
    "MESH_ATTACH_CONFIG_TIMEOUT",
    "MESH_BOOTSTRAP_ENABLE_PDEATHSIG",
    "MESH_ORPHAN_TIMEOUT",
    "MESH_SPAWN_CONCURRENCY",
    "MESH_TAIL_LOG_LINES",
    "MESH_TERMINATE_CONCURRENCY",
    "MESH_TERMINATE_TIMEOUT",
    "PROCESS_EXIT_TIMEOUT",
    "PROC_LOG_RATE",
    "PROC_PRELOAD",
    "PROC_SPAWN_MAX_IDLE",
    "PROC_STOP_MAX_IDLE",
    "REQUEST_TIMEOUT",
    "TCP_USER_TIMEOUT",
    "TLS_CA",
    "TLS_CERT",
    "TLS_KEY",
    "Config",
    "Key",
    "Kind",
    "Layer",
    "check_snapshot",
    "clear_runtime",
    "configure",
    "configured",
    "dump",
    "get",
    "get_with_source",
    "isolated",
    "propagatable",
    "reload_env",
    "resolve",
    "split_known",
    "test_override",
]

fixup_module_metadata(__name__, __all__)
del fixup_module_metadata
