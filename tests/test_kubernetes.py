"""The Kubernetes recipe (``examples/kubernetes/``): its manifests hang together.

Read with PyYAML and checked for what a cluster would only reveal at run time: the kustomization
lists every manifest; the StatefulSet, its headless Service and the NetworkPolicy select the
same pods; the host's ``--listen`` is the pod IP from the downward API; the token and TLS files
the host and client are given lie in the mounted Secrets; no Secret (no token) is in the
manifests; the client waits for as many hosts as there are replicas, on the Service's port;
every container runs unprivileged.

When ``kubectl`` is on PATH, it renders the kustomization and decodes every workload with
Kubernetes' own types, offline (``kubectl kustomize``, ``kubectl set env --local``).
``kubectl apply --dry-run=client`` is not used: it needs an API server for discovery even in
client mode, and these tests reach no network beyond loopback.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML (the tests extra) reads the manifests")

RECIPE = Path(__file__).resolve().parent.parent / "examples" / "kubernetes"
MANIFESTS = ("service.yaml", "hosts.yaml", "network-policy.yaml", "client-job.yaml")


def load(name: str) -> list[dict[str, Any]]:
    with open(RECIPE / name, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def objects() -> dict[str, dict[str, Any]]:
    """Every object of the recipe, by kind (each kind appears once)."""
    found: dict[str, dict[str, Any]] = {}
    for name in MANIFESTS:
        for doc in load(name):
            assert doc["kind"] not in found, f"two {doc['kind']} objects"
            found[doc["kind"]] = doc
    return found


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return only


def mounted_secret(workload: dict[str, Any], path: str) -> str:
    """The name of the Secret whose mount holds ``path`` in the workload's container."""
    pod = workload["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container(workload)["volumeMounts"]:
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            volume = volumes[mount["name"]]
            assert "secret" in volume, f"{path} is mounted from {volume}, not a Secret"
            assert mount.get("readOnly") is True
            return str(volume["secret"]["secretName"])
    raise AssertionError(f"{path} is in no mounted volume")


def flag(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


def test_k8s_kustomization_lists_every_manifest() -> None:
    """kustomization.yaml names exactly the recipe's manifests, and each parses."""
    [kustomization] = load("kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)
    on_disk = {p.name for p in RECIPE.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(MANIFESTS)
    kinds = objects()
    assert set(kinds) == {"Service", "StatefulSet", "NetworkPolicy", "Job"}
    for obj in kinds.values():
        assert obj["apiVersion"]
        assert obj["metadata"]["name"]


def test_k8s_statefulset_service_and_policy_select_the_host_pods() -> None:
    """The headless Service is the StatefulSet's serviceName and selects its pods, on the
    port the host listens on; the NetworkPolicy guards those pods and admits client pods."""
    kinds = objects()
    service, hosts = kinds["Service"], kinds["StatefulSet"]
    policy, client = kinds["NetworkPolicy"], kinds["Job"]
    pod_labels = hosts["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None", "the Service must be headless"
    assert hosts["spec"]["serviceName"] == service["metadata"]["name"]
    assert hosts["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    client_labels = client["spec"]["template"]["metadata"]["labels"]
    [rule] = policy["spec"]["ingress"]
    [source] = rule["from"]
    assert source["podSelector"]["matchLabels"].items() <= client_labels.items()
    assert not service["spec"]["selector"].items() <= client_labels.items()
    port = service["spec"]["ports"][0]["port"]
    listen = flag(container(hosts)["args"], "--listen")
    assert listen == f"tcp:$(POD_IP):{port}"
    [pod_ip] = [e for e in container(hosts)["env"] if e["name"] == "POD_IP"]
    assert pod_ip["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_k8s_token_and_tls_come_from_mounted_secrets_never_the_manifests() -> None:
    """The host reads its token and TLS key pair from Secret mounts, the client its token
    and the CA from the same Secrets; no manifest holds a Secret or a token value."""
    kinds = objects()
    hosts, client = kinds["StatefulSet"], kinds["Job"]
    args = container(hosts)["args"]
    assert mounted_secret(hosts, flag(args, "--token-file")) == "meshtrio-token"
    assert mounted_secret(hosts, flag(args, "--tls-cert")) == "meshtrio-tls"
    assert mounted_secret(hosts, flag(args, "--tls-key")) == "meshtrio-tls"
    env = {e["name"]: e for e in container(client)["env"]}
    assert "MESHTRIO_TOKEN" not in env, "the token would show in the pod spec"
    assert mounted_secret(client, env["MESHTRIO_TOKEN_FILE"]["value"]) == "meshtrio-token"
    assert mounted_secret(client, flag(container(client)["args"], "--tls-ca")) == "meshtrio-tls"
    assert "Secret" not in kinds
    readme = (RECIPE / "README.md").read_text()
    for name in ("meshtrio-token", "meshtrio-tls"):
        assert f"kubectl create secret generic {name}" in readme, f"README makes no {name}"


def test_k8s_client_waits_for_every_replica_on_the_service_port() -> None:
    """The client Job looks for as many hosts as the StatefulSet has replicas, by its name
    and Service, on the Service's port; it runs once (no retries that would double work)."""
    kinds = objects()
    hosts, client, service = kinds["StatefulSet"], kinds["Job"], kinds["Service"]
    args = container(client)["args"]
    assert int(flag(args, "--hosts")) == hosts["spec"]["replicas"]
    assert flag(args, "--statefulset") == hosts["metadata"]["name"]
    assert flag(args, "--service") == service["metadata"]["name"]
    assert int(flag(args, "--port")) == service["spec"]["ports"][0]["port"]
    assert client["spec"]["backoffLimit"] == 0
    assert client["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_k8s_containers_run_unprivileged() -> None:
    """Every pod runs as non-root without a service account token; every container drops all
    capabilities, cannot escalate and has a read-only root filesystem."""
    for workload in (objects()["StatefulSet"], objects()["Job"]):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        ctx = container(workload)["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["capabilities"]["drop"] == ["ALL"]


def _kubectl(*argv: str) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: the manifests are checked by PyYAML only")
    out = subprocess.run(
        [kubectl, *argv], capture_output=True, text=True, timeout=60, check=False, cwd=RECIPE
    )
    assert out.returncode == 0, f"kubectl {' '.join(argv)}: {out.stderr}"
    return out.stdout


def test_k8s_kubectl_renders_and_decodes_the_manifests_offline() -> None:
    """kubectl kustomize renders the four objects; kubectl decodes each workload into
    Kubernetes' own types (a mistyped field fails), without a cluster."""
    rendered = [d for d in yaml.safe_load_all(_kubectl("kustomize", ".")) if d]
    assert sorted(d["kind"] for d in rendered) == ["Job", "NetworkPolicy", "Service", "StatefulSet"]
    for name in ("hosts.yaml", "client-job.yaml"):
        out = _kubectl("set", "env", "--local", "--dry-run=client", "-o", "yaml", "-f", name, "X=1")
        [decoded] = [d for d in yaml.safe_load_all(out) if d]
        assert decoded["kind"] in ("StatefulSet", "Job")
