// meshtrio admin page: the tree from /v1/tree, refreshed on a timer, and the selected
// node's details from /v1/{ref}. No framework, no build step.
//
// Authentication: the admin prints http://HOST:PORT/#token=T. The fragment (after #) is never
// sent to the server, so the token stays out of server and proxy logs; this script reads it,
// keeps it in sessionStorage (this tab only), removes it from the address bar, and sends it
// as "Authorization: Bearer T" on every API request. Nothing here writes server data as
// HTML: every text goes through textContent.
"use strict";

const state = { token: null, selected: null, timer: null, tree: null };

function readToken() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const fromHash = params.get("token");
  if (fromHash) {
    sessionStorage.setItem("meshtrio-admin-token", fromHash);
    history.replaceState(null, "", window.location.pathname + window.location.search);
    return fromHash;
  }
  return sessionStorage.getItem("meshtrio-admin-token");
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function banner(text, isError) {
  const b = document.getElementById("banner");
  b.hidden = !text;
  b.textContent = text || "";
  b.className = isError ? "error" : "";
}

async function api(path) {
  const response = await fetch(path, {
    headers: { Authorization: "Bearer " + state.token },
    cache: "no-store",
  });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    const err = new Error(response.status + ": " + message);
    err.status = response.status;
    throw err;
  }
  return body;
}

function statusBadge(status, cls) {
  return el("span", { class: "status " + (cls || "unknown"), "data-status": status }, status);
}

function nodeLabel(kind, text, status, cls, ref, extra) {
  const label = el(
    "span",
    { class: "node", tabIndex: 0, "data-ref": ref, "data-kind": kind, "data-status": status },
    el("span", { class: "kind" }, kind),
    text,
    statusBadge(status, cls),
    extra || null,
  );
  if (ref === state.selected) label.classList.add("selected");
  label.addEventListener("click", () => select(ref));
  label.addEventListener("keydown", (ev) => { if (ev.key === "Enter") select(ref); });
  return label;
}

function renderTree(tree) {
  const hostsByRef = new Map(tree.hosts.map((h) => [h.ref, h]));
  const root = document.getElementById("tree");
  const items = [];
  for (const mesh of tree.meshes) {
    const hostItems = [];
    for (const hostRef of mesh.hosts) {
      const host = hostsByRef.get(hostRef);
      if (!host) continue;
      const procItems = host.procs.map((proc) => {
        const actorItems = proc.actors.map((a) =>
          el("li", { role: "treeitem" },
            nodeLabel("actor", a.name + "[" + a.rank + "] " + a["class"], a.status, a.status_class, a.ref)));
        return el("li", { role: "treeitem" },
          nodeLabel("proc", proc.proc_id, proc.status, proc.status_class, proc.ref),
          actorItems.length ? el("ul", { role: "group" }, ...actorItems) : null);
      });
      const late = host.status !== "ok" ? el("span", { class: "partial" }, "(" + host.latency_ms + " ms: " + host.error + ")") : null;
      hostItems.push(el("li", { role: "treeitem" },
        nodeLabel("host", host.addr + (host.client ? " (client)" : ""), host.status, host.status_class, host.ref, late),
        procItems.length ? el("ul", { role: "group" }, ...procItems) : null));
    }
    items.push(el("li", { role: "treeitem" },
      nodeLabel("mesh", mesh.id + " " + mesh.region, mesh.status, mesh.status_class, mesh.ref),
      el("ul", { role: "group" }, ...hostItems)));
  }
  root.replaceChildren(...items);
  root.setAttribute("data-loaded", "true");
  root.setAttribute("data-partial", String(tree.partial));
}

function table(obj) {
  const rows = [];
  for (const [k, v] of Object.entries(obj)) {
    if (k === "actors" || k === "procs") continue;
    const text = v !== null && typeof v === "object" ? JSON.stringify(v) : String(v);
    rows.push(el("tr", {}, el("th", {}, k), el("td", { "data-field": k }, text)));
  }
  return el("table", {}, ...rows);
}

async function renderDetail() {
  const pane = document.getElementById("detail");
  const ref = state.selected;
  if (!ref) return;
  let node;
  try {
    node = await api("/v1/" + encodeURIComponent(ref));
  } catch (err) {
    pane.replaceChildren(el("p", { id: "detail-error" }, "could not load " + ref + ": " + err.message));
    return;
  }
  if (ref !== state.selected) return; // another node was picked meanwhile
  const parts = [
    el("h3", {},
      el("span", { class: "kind" }, node.kind),
      el("span", { id: "detail-ref" }, node.identity),
      el("span", { id: "detail-status", class: "status " + node.status_class, "data-status": node.status }, node.status)),
    node.partial ? el("p", { class: "partial" }, "partial: a host did not answer in time") : null,
    el("p", {}, "parent: ", node.parent ? link(node.parent) : "none"),
    el("p", {}, "children: ", ...(node.children.length ? node.children.flatMap((c) => [link(c), " "]) : ["none"])),
    table(node.properties),
    el("p", { class: "hint" }, "as of " + node.as_of),
  ];
  if (node.kind === "proc") {
    const out = el("pre", { id: "proc-extra" });
    const show = (what) => async () => {
      out.textContent = "loading " + what + "...";
      try {
        const data = await api("/v1/" + what + "/" + encodeURIComponent(ref));
        out.textContent = what === "stacks" ? data.text || data.error : JSON.stringify(data.config || data, null, 2);
      } catch (err) { out.textContent = err.message; }
    };
    parts.push(el("p", {},
      el("button", { id: "show-config", onclick: show("config") }, "config"),
      el("button", { id: "show-stacks", onclick: show("stacks") }, "stacks")), out);
  }
  pane.replaceChildren(...parts.filter((p) => p !== null));
  pane.setAttribute("data-ref", node.identity);
}

function link(ref) {
  const a = el("a", { href: "#", "data-ref": ref }, ref);
  a.addEventListener("click", (ev) => { ev.preventDefault(); select(ref); });
  return a;
}

function select(ref) {
  state.selected = ref;
  for (const n of document.querySelectorAll(".node")) {
    n.classList.toggle("selected", n.getAttribute("data-ref") === ref);
  }
  renderDetail();
}

async function refresh() {
  try {
    const tree = await api("/v1/tree");
    state.tree = tree;
    renderTree(tree);
    document.getElementById("who").textContent =
      tree.admin.admin_id + " (pid " + tree.admin.pid + " on " + tree.admin.hostname + ")";
    document.getElementById("refreshed").textContent = "as of " + tree.as_of;
    banner(tree.partial ? "Partial: some hosts did not answer in time (marked in the tree)." : "", false);
    if (state.selected) await renderDetail();
  } catch (err) {
    if (err.status === 401) {
      sessionStorage.removeItem("meshtrio-admin-token");
      state.token = null;
      showLogin();
      banner("The token was refused.", true);
      return;
    }
    banner("Refresh failed: " + err.message, true);
  }
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  const every = Number(document.getElementById("interval").value);
  if (every > 0 && state.token) state.timer = setTimeout(refresh, every);
}

function showLogin() {
  document.getElementById("login").hidden = false;
}

function start() {
  document.getElementById("interval").addEventListener("change", schedule);
  document.getElementById("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = document.getElementById("token-input").value.trim();
    if (!value) return;
    state.token = value;
    sessionStorage.setItem("meshtrio-admin-token", value);
    document.getElementById("login").hidden = true;
    refresh();
  });
  state.token = readToken();
  if (!state.token) { showLogin(); return; }
  refresh();
}

start();
