"""A first meshtrio program: two host agent processes, two worker procs on each, a look at
them, and a clean teardown. Run it with ``python examples/first_mesh.py``."""

import trio

import meshtrio


async def main() -> None:
    # One host agent process per rank of the extent; leaving the block stops every proc and
    # shuts the hosts down (drain everywhere first, then shut down).
    async with meshtrio.open_host_mesh_processes(meshtrio.Extent(hosts=2)) as hosts:
        print("host mesh:", hosts.ref)  # text another client could attach with
        procs = await hosts.spawn("workers", {"gpus": 2})  # 2 procs per host, all Running
        print("proc mesh region:", procs.region)  # hosts=2/2,gpus=2/1: size/stride per dim
        for point, state in (await procs.states()).items():
            print(f"  {point}: {state.status} pid={state.pid}")
        await procs.stop()


if __name__ == "__main__":
    trio.run(main)
