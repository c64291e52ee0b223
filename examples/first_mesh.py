"""A first meshtrio program: two host agent processes, two worker procs on each, an actor on
every proc, and a clean teardown. Run it with ``python examples/first_mesh.py``."""

import os

import trio

import meshtrio


class Greeter(meshtrio.Actor):
    """Defined right here: it reaches the procs by value (cloudpickle)."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    @meshtrio.endpoint
    async def greet(self, name: str) -> str:
        ctx = meshtrio.context()  # where this actor runs
        return f"{self.greeting}, {name}, from rank {ctx.rank} (pid {os.getpid()})"


async def main() -> None:
    # One host agent process per rank of the extent; leaving the block stops every proc and
    # shuts the hosts down (drain everywhere first, then shut down).
    async with meshtrio.open_host_mesh_processes(meshtrio.Extent(hosts=2)) as hosts:
        print("host mesh:", hosts.ref)  # text another client could attach with
        procs = await hosts.spawn("workers", {"gpus": 2})  # 2 procs per host, all Running
        print("proc mesh region:", procs.region)  # hosts=2/2,gpus=2/1: size/stride per dim
        for point, state in (await procs.states()).items():
            print(f"  {point}: {state.status} pid={state.pid}")
        greeters = await procs.spawn("greeters", Greeter, "hello")  # one actor per proc
        for point, text in (await greeters.greet.call("world")).items():
            print(f"  {point}: {text}")
        await procs.stop()


if __name__ == "__main__":
    trio.run(main)
