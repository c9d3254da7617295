"""The Helm chart as Helm renders it, linted, and checked against Kubernetes' schemas.

tests/unit/test_deploy_files.py reads the chart's files; these tests render them.
helm-python-sdk runs Helm's own Go SDK in-process (no helm binary, no cluster, no
network), so the manifests are what ``helm template`` prints, and ``helm lint`` is
Helm's. kubernetes-validate holds the OpenAPI schemas of each Kubernetes release;
every rendered object is checked against those of ``KUBE_VERSION`` and of the oldest
release the chart admits, in strict mode (a misspelt or misplaced field fails). The
prometheus-operator kinds have no bundled schema (``CRD_KINDS``) and get a lighter check.

Every values set an operator installs with is rendered: ``values-dev.yaml``,
``values-staging.yaml`` and ``values-production.yaml``, each over
``ci/required-values.yaml`` (what every install gives: the ISPB, the bridge and its
Secrets), and each ``ci/*.yaml``. The assertions are what a cluster depends on:
replicas per environment, probes on declared ports, security contexts and resources,
the NetworkPolicies, the bridge's TLS material, the grace periods after SIGTERM.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from app.cli import SHUTDOWN_TIMEOUT_S

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "dict-connect"
RELEASE = "dict-connect"
NAMESPACE = "payments"

KUBE_VERSION = "1.30"
"""The Kubernetes release Helm lints for, and whose schemas every object must satisfy."""

KUBE_MINIMUM = "1.27"
"""The oldest release Chart.yaml admits (kubeVersion): its schemas must hold too."""

CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
"""Kinds of the prometheus-operator CRDs (monitoring.coreos.com/v1), which
kubernetes-validate has no schema for: only their envelope is checked."""

INSTALL = "ci/required-values.yaml"
ENVIRONMENTS = ["values-dev.yaml", "values-staging.yaml", "values-production.yaml"]
VALUE_SETS = ENVIRONMENTS + sorted(f"ci/{p.name}" for p in (CHART / "ci").glob("*.yaml"))

REPLICAS = {
    "values-dev.yaml": {"api": 2, "worker": 1, "scheduler": 2},
    "values-staging.yaml": {"api": 3, "worker": 2, "scheduler": 2},
    "values-production.yaml": {"api": 5, "worker": 3, "scheduler": 2},
}
"""Pods per component in each environment (the HPA's minimum where it scales)."""

PROCESSES = ("api", "worker", "scheduler")
WORKLOADS = (*PROCESSES, "migrate")
TLS_DIR = "/etc/dict-connect/bridge-tls"
MULTIPROC_DIR = "/var/run/prometheus"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` layered on ``base`` as Helm layers ``-f`` files: maps merge, the rest replaces."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _file(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / name).read_text()) or {}
    return loaded


def _given(name: str) -> dict[str, Any]:
    """The values an install passes: an environment file goes over the install's own."""
    if name in ENVIRONMENTS:
        return _merge(_file(INSTALL), _file(name))
    return _file(name)


@functools.cache
def _chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART)


@functools.cache
def _values(name: str) -> dict[str, Any]:
    """The values the templates see: the chart's defaults under the given ones."""
    return _chart().merge_values(_given(name))


def _render(given: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = _chart().render(values=given, name=RELEASE, namespace=NAMESPACE)
    return [
        doc
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


@functools.cache
def _objects(name: str) -> list[dict[str, Any]]:
    return _render(_given(name))


def _find(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _named(objects: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    [found] = [o for o in _find(objects, kind) if o["metadata"]["name"] == f"{RELEASE}-{component}"]
    return found


def _pod(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    """The pod template of a component: its Deployment's, or the migrations' Job's."""
    kind = "Job" if component == "migrate" else "Deployment"
    template: dict[str, Any] = _named(objects, kind, component)["spec"]["template"]
    return template


def _workloads(objects: list[dict[str, Any]]) -> list[str]:
    return [c for c in WORKLOADS if any(o["kind"] in {"Deployment", "Job"} and
            o["metadata"]["name"] == f"{RELEASE}-{c}" for o in objects)]  # fmt: skip


def _container(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    [container] = _pod(objects, component)["spec"]["containers"]
    assert container["name"] == component
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _replicas(objects: list[dict[str, Any]], component: str) -> int:
    """Pods a component runs with at least: its HPA's minimum, else the Deployment's count."""
    deployment = _named(objects, "Deployment", component)
    hpas = [
        h
        for h in _find(objects, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ]
    if hpas:
        # A count in the Deployment would reset the HPA's on every upgrade.
        assert "replicas" not in deployment["spec"], component
        return int(hpas[0]["spec"]["minReplicas"])
    return int(deployment["spec"]["replicas"])


_QUANTITY = re.compile(r"^([0-9.]+)(m|Ki|Mi|Gi|Ti)?$")
_UNITS = {None: 1.0, "m": 1e-3, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


def _quantity(value: str | int | float) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"unexpected quantity {value!r}"
    return float(match.group(1)) * _UNITS[match.group(2)]


# Helm's verdicts


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_passes_strict(name: str) -> None:
    report = helm_python.lint(
        CHART, _given(name), strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}.0"
    )
    findings = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert not findings and not report["errors"], findings or report["errors"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_object_matches_the_kubernetes_schema(name: str) -> None:
    objects = _objects(name)
    assert len(_find(objects, "Deployment")) == len(PROCESSES)
    invalid = []
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1", obj["kind"]
            assert obj["metadata"]["name"].startswith(RELEASE) and isinstance(obj["spec"], dict)
            continue
        for version in (KUBE_MINIMUM, KUBE_VERSION):
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = f"{version} {obj['kind']} {obj['metadata']['name']} {e.json_path}"
                invalid.append(f"{where}: {e.message}")
    assert not invalid
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), "two objects of a kind share a name"


def test_the_minimum_version_is_the_charts() -> None:
    assert _chart().metadata["kubeVersion"] == f">={KUBE_MINIMUM}.0-0"


def test_an_unknown_field_is_refused() -> None:
    """The schema check is strict: a field Kubernetes does not know fails it."""
    deployment = _named(_objects(INSTALL), "Deployment", "api")
    broken = _merge(deployment, {"spec": {"template": {"spec": {"terminationGrace": 30}}}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


def test_a_kind_without_a_schema_must_be_listed() -> None:
    kinds = {o["kind"] for o in _objects("ci/full-values.yaml")}
    assert kinds & CRD_KINDS == CRD_KINDS, "a listed CRD kind is no longer rendered"
    for kind in sorted(kinds - CRD_KINDS):
        obj = next(o for o in _objects("ci/full-values.yaml") if o["kind"] == kind)
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)  # no SchemaNotFoundError


# Replicas


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_replicas_per_environment(name: str) -> None:
    objects = _objects(name)
    assert {c: _replicas(objects, c) for c in PROCESSES} == REPLICAS[name]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_no_disruption_budget_blocks_a_drain(name: str) -> None:
    """A budget demanding as many pods as run would stop every node drain."""
    objects = _objects(name)
    for pdb in _find(objects, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        [component] = [
            c for c in PROCESSES if _selects(selector, _pod(objects, c)["metadata"]["labels"])
        ]
        assert pdb["spec"]["minAvailable"] < _replicas(objects, component), pdb["metadata"]["name"]


def test_two_schedulers_by_default_spread_and_kept_through_drains() -> None:
    objects = _objects(INSTALL)
    deployment = _named(objects, "Deployment", "scheduler")
    assert deployment["spec"]["replicas"] == 2
    # A rollout starts the new pod before it stops an old one: never fewer than two.
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    pdb = _named(objects, "PodDisruptionBudget", "scheduler")
    labels = _pod(objects, "scheduler")["metadata"]["labels"]
    assert _selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["minAvailable"] == 1
    [spread] = _pod(objects, "scheduler")["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert _selects(spread["labelSelector"]["matchLabels"], labels)
    targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in _find(objects, "HorizontalPodAutoscaler")
    }
    assert f"{RELEASE}-scheduler" not in targets


# Probes and metrics


def test_probe_and_metrics_ports_are_the_fixed_ones_by_default() -> None:
    """HEALTH_PORT and METRICS_PORT as the code's defaults have them; metrics on."""
    objects = _objects(INSTALL)
    for component, health, metrics in (("worker", 8081, 9093), ("scheduler", 8082, 9094)):
        container = _container(objects, component)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"health": health, "metrics": metrics}
        assert _env(container)["HEALTH_PORT"] == str(health)
        assert _env(container)["METRICS_PORT"] == str(metrics)
        assert _named(objects, "ServiceMonitor", component)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_process_is_probed_on_a_port_it_declares(name: str) -> None:
    objects = _objects(name)
    for component in PROCESSES:
        container = _container(objects, component)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        probes = {
            "startupProbe": "/health",
            "livenessProbe": "/health",
            "readinessProbe": "/ready",
        }
        for probe, path in probes.items():
            get = container[probe]["httpGet"]
            assert (get["path"], get["port"] in ports) == (path, True), (component, probe)
        if component == "api":
            continue
        env = _env(container)
        assert {container[p]["httpGet"]["port"] for p in probes} == {"health"}
        assert env["HEALTH_PORT"] == str(ports["health"])
        assert env["METRICS_PORT"] == str(ports.get("metrics", 0)), "0 turns the server off"
        enabled = _values(name)[component]["metrics"]["enabled"]
        assert ("metrics" in ports) == enabled


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_metrics_port_is_scraped(name: str) -> None:
    """Each ServiceMonitor reaches a declared container port through a Service, and
    every process serving metrics has one (while ServiceMonitors are on)."""
    objects = _objects(name)
    scraped = set()
    for monitor in _find(objects, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        [service] = [
            s for s in _find(objects, "Service") if _selects(selector, s["metadata"]["labels"])
        ]
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        [port] = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        for component in PROCESSES:
            if _selects(
                service["spec"]["selector"], _pod(objects, component)["metadata"]["labels"]
            ):
                declared = {p["name"] for p in _container(objects, component)["ports"]}
                assert port["targetPort"] in declared, (component, port)
                scraped.add(component)
        if service["spec"].get("clusterIP") == "None":
            # Headless, for scraping only: a worker is not ready while the bridge is down.
            assert service["spec"]["publishNotReadyAddresses"] is True
    values = _values(name)
    if values["metrics"]["serviceMonitor"]["enabled"]:
        serving = {"api"} | {c for c in ("worker", "scheduler") if values[c]["metrics"]["enabled"]}
        assert scraped == serving
    else:
        assert not scraped


@pytest.mark.parametrize("name", VALUE_SETS)
def test_worker_metrics_are_multiprocess(name: str) -> None:
    """Dramatiq forks processes: each writes its series to one emptyDir that /metrics reads."""
    objects = _objects(name)
    container = _container(objects, "worker")
    assert _env(container)["PROMETHEUS_MULTIPROC_DIR"] == MULTIPROC_DIR
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == MULTIPROC_DIR]
    volumes = {v["name"]: v for v in _pod(objects, "worker")["spec"]["volumes"]}
    assert "emptyDir" in volumes[mount["name"]]


# Security


@pytest.mark.parametrize("name", VALUE_SETS)
def test_security_contexts_and_resources(name: str) -> None:
    objects = _objects(name)
    for component in _workloads(objects):
        pod = _pod(objects, component)["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, component
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False, component
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            assert "privileged" not in context
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request = _quantity(resources["requests"][resource])
                limit = _quantity(resources["limits"][resource])
                assert 0 < request <= limit, (component, resource)


# NetworkPolicies


def _policy(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    labels = _pod(objects, component)["metadata"]["labels"]
    [policy] = [
        p
        for p in _find(objects, "NetworkPolicy")
        if _selects(p["spec"]["podSelector"]["matchLabels"], labels)
    ]
    return policy


def _ports(rules: list[dict[str, Any]]) -> set[tuple[int, str]]:
    return {(int(p["port"]), p["protocol"]) for rule in rules for p in rule["ports"]}


POLICED = [name for name in VALUE_SETS if _values(name)["networkPolicy"]["enabled"]]
"""The values sets that render NetworkPolicies."""


def _policies(name: str) -> list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(component, ingress rules, egress rules) of each workload's NetworkPolicy, less
    the extra rules the values add to all of them."""
    objects = _objects(name)
    np = _values(name)["networkPolicy"]
    found = []
    for component in _workloads(objects):
        spec = _policy(objects, component)["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        # Every rule names its ports and its peers: nothing is open to all.
        assert all(r.get("ports") for r in spec["ingress"] + spec["egress"]), component
        assert all(r.get("from") for r in spec["ingress"]), f"{component}: ingress from anyone"
        ingress = [r for r in spec["ingress"] if r not in np["extraIngress"]]
        egress = [r for r in spec["egress"] if r not in np["extraEgress"]]
        found.append((component, ingress, egress))
    return found


@pytest.mark.parametrize("name", VALUE_SETS)
def test_network_policies_exist_only_when_enabled(name: str) -> None:
    objects = _objects(name)
    policies = _find(objects, "NetworkPolicy")
    if _values(name)["networkPolicy"]["enabled"]:
        assert len(policies) == len(_workloads(objects))
    else:
        assert not policies


@pytest.mark.parametrize("name", POLICED)
def test_network_policy_ingress(name: str) -> None:
    """The API on its port from the configured peers; metrics and health ports from
    the monitoring namespace; nothing to the migrations."""
    objects = _objects(name)
    values = _values(name)
    np = values["networkPolicy"]
    for component, ingress, _ in _policies(name):
        if component == "api":
            port = values["api"]["containerPort"]
            assert [r for r in ingress if r["from"] == np["apiFrom"]] == [
                {"from": np["apiFrom"], "ports": [{"port": port, "protocol": "TCP"}]}
            ]
            assert _ports(ingress) == {(port, "TCP")}
        elif component == "migrate":
            assert ingress == []
        else:
            declared = {p["containerPort"] for p in _container(objects, component)["ports"]}
            assert [r["from"] for r in ingress] == [np["monitoringFrom"]]
            assert _ports(ingress) == {(p, "TCP") for p in declared}


@pytest.mark.parametrize("name", POLICED)
def test_network_policy_egress(name: str) -> None:
    """DNS and PostgreSQL for all; Redis for all but the migrations; the bridge's port
    (from bridge.address) for the api and the worker only; each to its configured peers."""
    values = _values(name)
    egress = values["networkPolicy"]["egress"]
    peers = {
        53: egress["dns"]["to"],
        egress["postgres"]["port"]: egress["postgres"]["to"],
        egress["redis"]["port"]: egress["redis"]["to"],
        int(values["bridge"]["address"].rsplit(":", 1)[1]): egress["bridge"]["to"],
    }
    for component, _, rules in _policies(name):
        expected = {(53, "UDP"), (53, "TCP"), (egress["postgres"]["port"], "TCP")}
        if component != "migrate":
            expected.add((egress["redis"]["port"], "TCP"))
        if component in {"api", "worker"}:
            expected.add((int(values["bridge"]["address"].rsplit(":", 1)[1]), "TCP"))
        assert _ports(rules) == expected, component
        for rule in rules:
            for port, _protocol in _ports([rule]):
                assert rule.get("to", []) == peers[port], (component, port)


# The bridge's TLS material


@pytest.mark.parametrize("name", VALUE_SETS)
def test_bridge_tls_material_reaches_only_the_bridge_callers_read_only(name: str) -> None:
    objects = _objects(name)
    tls = _values(name)["bridge"]["tls"]
    for component in _workloads(objects):
        pod = _pod(objects, component)["spec"]
        container = _container(objects, component)
        env = _env(container)
        files = {
            k: v
            for k, v in env.items()
            if k in {"BRIDGE_CA_FILE", "BRIDGE_CERT_FILE", "BRIDGE_KEY_FILE"}
        }
        volumes = {v["name"]: v for v in pod["volumes"]}
        if component not in {"api", "worker"} or not tls["enabled"]:
            assert not files and "bridge-tls" not in volumes, component
            continue
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "bridge-tls"]
        assert (mount["mountPath"], mount["readOnly"]) == (TLS_DIR, True)
        projected = volumes["bridge-tls"]["projected"]
        assert projected["defaultMode"] & 0o007 == 0, "the private key is readable by others"
        sources = projected["sources"]
        assert all(set(s) == {"secret"} for s in sources), "TLS material comes from Secrets only"
        served = {
            item["path"]: (s["secret"]["name"], item["key"])
            for s in sources
            for item in s["secret"]["items"]
        }
        expected = {"BRIDGE_CA_FILE": ("ca.crt", (tls["caSecret"], tls["caKey"]))}
        if tls["clientCertSecret"]:
            expected["BRIDGE_CERT_FILE"] = ("tls.crt", (tls["clientCertSecret"], "tls.crt"))
            expected["BRIDGE_KEY_FILE"] = ("tls.key", (tls["clientCertSecret"], "tls.key"))
        assert set(files) == set(expected), component
        for var, (path, secret_key) in expected.items():
            assert files[var] == f"{TLS_DIR}/{path}"
            assert served[path] == secret_key


@pytest.mark.parametrize("name", ["values-staging.yaml", "values-production.yaml"])
def test_staging_and_production_refuse_to_render_without_mutual_tls(name: str) -> None:
    assert _values(name)["bridge"]["tls"]["clientCertSecret"], "the install gives the client cert"
    without = _merge(_given(name), {"bridge": {"tls": {"clientCertSecret": ""}}})
    with pytest.raises(helm_python.HelmRenderError, match="requireClientCert"):
        _render(without)


# Shutdown


def test_default_grace_periods_are_the_fixed_ones() -> None:
    objects = _objects(INSTALL)
    graces = {c: _pod(objects, c)["spec"]["terminationGracePeriodSeconds"] for c in PROCESSES}
    assert graces == {"api": 35, "worker": 45, "scheduler": 25}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_grace_period_covers_the_pre_stop_hook_and_the_shutdown_timeout(name: str) -> None:
    """After SIGTERM a process gives work in flight SHUTDOWN_TIMEOUT_S; Kubernetes must
    not SIGKILL it sooner. The preStop hook runs first and counts against the grace."""
    objects = _objects(name)
    for component, timeout in SHUTDOWN_TIMEOUT_S.items():
        pod = _pod(objects, component)["spec"]
        pre_stop = _container(objects, component).get("lifecycle", {}).get("preStop")
        sleep = 0
        if pre_stop:
            command = pre_stop["exec"]["command"]
            assert command[0] == "sleep", command
            sleep = int(command[1])
        assert pod["terminationGracePeriodSeconds"] >= sleep + timeout + 10, component
