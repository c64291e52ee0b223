"""``python -m meshtrio top``: the terminal view driven headlessly by textual's pilot, and
``--diagnose`` run as a user would (a child process printing JSON, its exit status).

The admin serves from this Trio run over in-process hosts; textual runs on asyncio, so the
pilot runs in a worker thread (its own event loop) while the admin answers here. The pilot
waits on the app's own refresh (``app.refreshes``), through ``pilot.pause()``, bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest
import trio

import meshtrio
from meshtrio import Actor, endpoint, open_host_mesh_in_process

pytest.importorskip("textual", reason="the 'top' extra (textual) is not installed")

LIMIT = 60


class Echo(Actor):
    @endpoint
    def echo(self, x: int) -> int:
        return x


def drive_top(url: str, token: str) -> dict[str, Any]:
    """Open the app headlessly, wait for its first tree, select a proc, read the screen."""
    from textual.widgets import Static, Tree

    from meshtrio._top import make_app

    async def scenario() -> dict[str, Any]:
        app = make_app(url, token, interval=0.5)
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(200):  # bounded: the first refresh lands within a few pauses
                if app.refreshes >= 1:  # type: ignore[attr-defined]
                    break
                await pilot.pause(0.05)
            tree = app.query_one("#tree", Tree)
            labels = [str(line.label) for line in _walk(tree.root)]
            proc_line = next(n for n in _walk(tree.root) if str(n.label).startswith("proc "))
            tree.select_node(proc_line)
            await pilot.pause(0.05)
            for _ in range(200):
                text = str(app.query_one("#detail", Static).render())
                if text.startswith("proc "):
                    break
                await pilot.pause(0.05)
            first = app.refreshes  # type: ignore[attr-defined]
            for _ in range(200):  # it refreshes by itself
                if app.refreshes > first:  # type: ignore[attr-defined]
                    break
                await pilot.pause(0.05)
            await pilot.press("q")
            return {
                "labels": labels,
                "detail": text,
                "refreshed": app.refreshes > first,  # type: ignore[attr-defined]
            }

    return asyncio.run(scenario())


def _walk(node: Any) -> list[Any]:
    out = []
    for child in node.children:
        out.append(child)
        out.extend(_walk(child))
    return out


async def test_top_shows_the_tree_and_a_selected_proc() -> None:
    """The terminal view lists meshes, hosts, procs and actors with statuses, shows the
    selected proc's details, and refreshes by itself."""
    with trio.fail_after(LIMIT):
        async with open_host_mesh_in_process(2, in_process_procs=True) as hosts:
            procs = await hosts.spawn("workers", {"gpus": 2}, on_failure="log", logs=None)
            actors = await procs.spawn("echo", Echo)  # held: the admin shows held meshes
            async with meshtrio.serve_admin(hosts) as admin:
                seen = await trio.to_thread.run_sync(drive_top, admin.url, admin.token)
            del actors
    labels = seen["labels"]
    assert sum(label.startswith("host ") for label in labels) == 2
    assert sum(label.startswith("proc ") and "[Running]" in label for label in labels) == 4
    assert sum(label.startswith("actor echo[") for label in labels) == 4
    assert seen["detail"].startswith("proc "), seen["detail"]
    assert "status: Running" in seen["detail"]
    assert seen["refreshed"], "the view refreshes itself"


async def run_diagnose(url: str, token: str) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "MESHTRIO_ADMIN_TOKEN": token}
    done = await trio.run_process(
        [sys.executable, "-m", "meshtrio", "top", url, "--diagnose", "--timeout", "10"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=env,
    )
    return done.returncode, json.loads(done.stdout)


async def test_top_diagnose_probes_every_node_and_fails_on_a_bad_token() -> None:
    """--diagnose probes every node once (pass/slow/fail with latency), exits 0 when all
    pass, and 1 when anything failed (here: a wrong token fails every probe)."""
    with trio.fail_after(LIMIT):
        async with open_host_mesh_in_process(2, in_process_procs=True) as hosts:
            procs = await hosts.spawn("workers", {"gpus": 1}, on_failure="log", logs=None)
            actors = await procs.spawn("echo", Echo)
            async with meshtrio.serve_admin(hosts) as admin:
                code, report = await run_diagnose(admin.url, admin.token)
                assert code == 0, report
                kinds = [n.get("kind") for n in report["nodes"]]
                assert kinds.count("host") == 2
                assert kinds.count("proc") == 2
                assert kinds.count("actor") == 2
                assert kinds.count("mesh") == 1
                assert all(n["result"] in ("pass", "slow") for n in report["nodes"])
                assert all(n["latency_ms"] >= 0 for n in report["nodes"])
                assert report["counts"]["fail"] == 0

                code, report = await run_diagnose(admin.url, "not-the-token-at-all")
                assert code == 1
                assert report["nodes"][0]["http_status"] == 401
                assert report["counts"]["fail"] >= 1
            del actors
