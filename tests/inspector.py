"""An actor that reports which actors the proc it runs on holds (a look at the proc's
ActorServer), for tests that check nothing is left behind on a proc. Shared by the in-process
and the OS-process actor tests; it travels to OS procs by value (PL-3: tests/ is no installed
distribution)."""

from __future__ import annotations

import gc

import meshtrio
from meshtrio import Actor, endpoint


class Inspector(Actor):
    """Reports which actors the proc it runs on holds (a look at the proc's ActorServer)."""

    @endpoint
    def actors_here(self) -> list[str]:
        from meshtrio._proc.actors import ActorServer

        me = meshtrio.context().proc_id
        names = []
        for obj in gc.get_objects():
            if isinstance(obj, ActorServer) and obj.proc_id == me:
                names += [a.context.actor for a in obj.actors.values()]
        return sorted(names)
