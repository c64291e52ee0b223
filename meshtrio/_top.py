"""``python -m meshtrio top URL``: a live terminal view of a mesh admin, and ``--diagnose``.

The view (textual, the ``top`` extra) shows the admin's tree (host meshes, hosts, procs,
actors, each with its status), refreshes it every ``--interval`` seconds, and shows the
selected node's details (``/v1/{ref}``). ``--diagnose`` instead probes every node of the
tree once, in order, and prints one JSON document: per node its ``result`` (``pass``,
``slow`` past ``--slow`` seconds, or ``fail``), its latency and HTTP status; the exit status
is 1 if any node failed, else 0 (usable in CI).

A node fails its probe when the request fails (no answer within ``--timeout``, a non-200
answer), when its answer is partial (its host did not answer the admin in time), or when its
status is a failure (a Failed proc or actor, an unreachable host).

The token comes from ``--token`` or the ``MESHTRIO_ADMIN_TOKEN`` environment variable (which
keeps it out of the process list). Nothing here imports textual or httpx until used, so the
``meshtrio`` command line stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App

__all__ = ["add_top_parser", "diagnose", "make_app", "tree_nodes"]

TOKEN_ENV = "MESHTRIO_ADMIN_TOKEN"


def tree_nodes(tree: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every node of a ``/v1/tree`` answer with its depth, in display order (meshes, their
    hosts, procs, actors); a host in two meshes is listed under each."""
    hosts = {h["ref"]: h for h in tree.get("hosts", [])}
    for mesh in tree.get("meshes", []):
        yield 0, mesh
        for ref in mesh.get("hosts", []):
            host = hosts.get(ref)
            if host is None:
                continue
            yield 1, host
            for proc in host.get("procs", []):
                yield 2, proc
                for actor in proc.get("actors", []):
                    yield 3, actor


def node_url(base: str, ref: str) -> str:
    """The ``/v1/{ref}`` address of a node (the ref URL-encoded)."""
    return f"{base.rstrip('/')}/v1/{urllib.parse.quote(ref, safe='')}"


def _label(node: dict[str, Any]) -> str:
    kind = node["kind"]
    if kind == "mesh":
        name = f"{node['id']} {node['region']}"
    elif kind == "host":
        name = node["addr"] + (" (client)" if node.get("client") else "")
    elif kind == "proc":
        name = node["proc_id"]
    else:
        name = f"{node['name']}[{node['rank']}] {node['class']}"
    return f"{kind} {name} [{node['status']}]"


def diagnose(
    url: str, token: str, *, slow: float = 0.5, timeout: float = 10.0
) -> tuple[dict[str, Any], int]:
    """Probe every node once; the JSON report and the exit status (1 if any failed)."""
    import httpx

    headers = {"authorization": f"Bearer {token}"}
    results: list[dict[str, Any]] = []
    with httpx.Client(headers=headers, timeout=timeout) as client:

        def probe(ref: str, target: str) -> dict[str, Any]:
            start = time.perf_counter()
            entry: dict[str, Any] = {"ref": ref}
            try:
                r = client.get(target)
            except httpx.HTTPError as exc:
                entry.update(result="fail", error=f"{type(exc).__name__}: {exc}")
                entry["latency_ms"] = round((time.perf_counter() - start) * 1000, 3)
                return entry
            latency = time.perf_counter() - start
            entry["latency_ms"] = round(latency * 1000, 3)
            entry["http_status"] = r.status_code
            if r.status_code != 200:
                try:
                    message = r.json()["error"]["message"]
                except (ValueError, KeyError, TypeError):
                    message = r.text[:200]
                entry.update(result="fail", error=message)
                return entry
            body = r.json()
            entry["body"] = body
            if body.get("partial"):
                entry.update(result="fail", error="partial: a host did not answer in time")
            elif body.get("status_class") == "failed" or body.get("status") == "unreachable":
                entry.update(result="fail", error=f"status {body.get('status')}")
            else:
                entry["result"] = "slow" if latency > slow else "pass"
            return entry

        tree_probe = probe("tree", f"{url.rstrip('/')}/v1/tree")
        tree = tree_probe.pop("body", None)
        if tree is not None:  # a partial tree still lists every node: each is probed below
            tree_probe.pop("error", None)
            tree_probe["result"] = "slow" if tree_probe["latency_ms"] > slow * 1000 else "pass"
        results.append(tree_probe)
        if tree is not None:
            for _depth, node in tree_nodes(tree):
                entry = probe(node["ref"], node_url(url, node["ref"]))
                body = entry.pop("body", None)
                entry["kind"] = node["kind"]
                entry["status"] = (body or node).get("status")
                results.append(entry)
    counts = {k: sum(1 for r in results if r["result"] == k) for k in ("pass", "slow", "fail")}
    report = {"url": url, "slow_after_ms": slow * 1000, "counts": counts, "nodes": results}
    return report, 1 if counts["fail"] else 0


def make_app(url: str, token: str, interval: float = 2.0) -> App[None]:
    """The textual app for the admin at ``url`` (its tree, refreshed every ``interval``)."""
    import httpx
    from textual.app import App, ComposeResult
    from textual.containers import Horizontal
    from textual.widgets import Footer, Header, Static, Tree

    class Top(App[None]):
        TITLE = "meshtrio top"
        CSS = "Tree { width: 1fr; } #detail { width: 1fr; padding: 0 1; overflow-y: auto; }"
        BINDINGS = [("q", "quit", "quit"), ("r", "refresh", "refresh now")]

        def __init__(self) -> None:
            super().__init__()
            self.url = url.rstrip("/")
            self.http = httpx.AsyncClient(
                headers={"authorization": f"Bearer {token}"}, timeout=10.0
            )
            self.tree_data: dict[str, Any] | None = None
            self.refreshes = 0
            self.selected: str | None = None
            self.error: str | None = None

        def compose(self) -> ComposeResult:
            yield Header()
            with Horizontal():
                yield Tree("admin", id="tree")
                yield Static("Select a node.", id="detail")
            yield Footer()

        async def on_mount(self) -> None:
            await self.action_refresh()
            self.set_interval(interval, self.action_refresh)

        async def on_unmount(self) -> None:
            await self.http.aclose()

        async def action_refresh(self) -> None:
            try:
                r = await self.http.get(f"{self.url}/v1/tree")
                r.raise_for_status()
                data = r.json()
            except (httpx.HTTPError, ValueError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                self.sub_title = f"refresh failed: {self.error}"
                return
            self.error = None
            self.tree_data = data
            self.refreshes += 1
            partial = " (partial)" if data.get("partial") else ""
            self.sub_title = f"{self.url} as of {data['as_of']}{partial}"
            self._render_tree(data)
            if self.selected is not None:
                await self._show(self.selected)

        def _render_tree(self, data: dict[str, Any]) -> None:
            tree: Tree[str] = self.query_one("#tree", Tree)
            tree.clear()
            tree.root.label = f"admin {data['admin']['admin_id']}"
            parents: list[Any] = [tree.root]
            for depth, node in tree_nodes(data):
                del parents[depth + 1 :]
                item = parents[depth].add(_label(node), data=node["ref"], expand=True)
                parents.append(item)
            tree.root.expand_all()

        async def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
            if event.node.data:
                self.selected = event.node.data
                await self._show(event.node.data)

        async def _show(self, ref: str) -> None:
            detail = self.query_one("#detail", Static)
            try:
                r = await self.http.get(node_url(self.url, ref))
                body = r.json()
            except (httpx.HTTPError, ValueError) as exc:
                detail.update(f"{ref}: {type(exc).__name__}: {exc}")
                return
            if r.status_code != 200:
                detail.update(f"{ref}: {body.get('error', {}).get('message', r.status_code)}")
                return
            lines = [
                f"{body['kind']} {body['identity']}",
                f"status: {body['status']}" + (" (partial)" if body.get("partial") else ""),
                f"parent: {body['parent']}",
                f"children: {len(body['children'])}",
                "",
            ]
            for key, value in body["properties"].items():
                if key not in ("actors", "procs"):
                    lines.append(f"{key}: {value}")
            detail.update("\n".join(lines))

    return Top()


def add_top_parser(sub: Any) -> None:
    """Add the ``top`` subcommand to ``python -m meshtrio``'s subparsers."""
    top = sub.add_parser(
        "top",
        help="a live terminal view of a mesh admin (or --diagnose: probe every node once)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    top.add_argument("url", metavar="URL", help="the admin's URL (http://127.0.0.1:PORT)")
    top.add_argument("--token", help=f"the admin's bearer token (default: ${TOKEN_ENV})")
    top.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    top.add_argument(
        "--diagnose", action="store_true", help="probe every node once, print JSON, exit 1 on fail"
    )
    top.add_argument("--slow", type=float, default=0.5, help="seconds past which a probe is slow")
    top.add_argument("--timeout", type=float, default=10.0, help="seconds each probe may take")
    top.set_defaults(fn=run_top)


def run_top(args: argparse.Namespace) -> int:
    """Run ``top`` from parsed arguments; the exit status."""
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        print(f"meshtrio top: no token: pass --token or set {TOKEN_ENV}", file=sys.stderr)
        return 2
    url = str(args.url)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        print(f"meshtrio top: URL must be http(s)://HOST:PORT, got {url!r}", file=sys.stderr)
        return 2
    if not (args.interval > 0 and args.slow > 0 and args.timeout > 0):
        print("meshtrio top: --interval, --slow and --timeout must be > 0", file=sys.stderr)
        return 2
    try:
        if args.diagnose:
            report, code = diagnose(url, token, slow=args.slow, timeout=args.timeout)
            print(json.dumps(report, indent=2))
            return code
        make_app(url, token, args.interval).run()
    except ImportError as exc:
        print(
            f"meshtrio top needs the 'top' extra: pip install 'meshtrio[top]' ({exc})",
            file=sys.stderr,
        )
        return 2
    return 0
