"""The deployment files agree with the code: compose/, charts/dict-connect/, .github/.

These tests read the files (tests/unit/test_chart_render.py renders the chart). They
check that every process is started with a real ``dict-connect`` subcommand, that
every environment variable set is one the code reads, that compose.yaml is valid
against the Compose Specification's schema, that every ``.Values`` path a template
uses exists in values.yaml, that each template is well-formed YAML once its template
actions are blanked out, that the scheduler runs two replicas whose ticks cron_runs
dedupes, that the grace periods after SIGTERM cover the code's shutdown timeouts,
that the GitHub workflow runs .ci/run against the services the tests expect, and
that the alert rules and the dashboard query metrics the code exports, with their
real label names.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import jsonschema
import pytest
import yaml

from app.api import observability
from app.bridge import metrics as bridge_metrics
from app.cli import SHUTDOWN_TIMEOUT_S, parser
from app.lookups import metrics as lookup_metrics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
CHART = ROOT / "charts" / "dict-connect"
TEMPLATES = CHART / "templates"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
"""The Compose Specification's JSON schema (tests/unit/data/README.md says whence)."""

APP_SERVICES = {"migrate", "api", "worker", "scheduler", "simulator"}
"""Compose services that run our image, each named after its subcommand."""

LIBRARY_ENV = {"PROMETHEUS_MULTIPROC_DIR", "dramatiq_prom_port", "dramatiq_prom_db"}
"""Variables read by libraries (prometheus-client, Dramatiq's Prometheus middleware)."""

SYNC_GAUGES = {
    "dict_sync_last_ok_age_seconds",
    "dict_sync_runs_open",
    "dict_sync_last_run_ok",
    "dict_sync_last_run_divergences",
    "dict_sync_last_run_repaired",
    "dict_sync_last_run_duration_seconds",
}
"""The sync runs' gauges (app/outbox.py ``_sync_gauges``), each labelled by key_type;
dict_sync_runs_open also by status."""

MED_GAUGES = {
    "dict_med_open_total": {"kind", "role"},
    "dict_med_due_soon": {"kind"},
    "dict_med_overdue": {"kind"},
    "dict_med_oldest_due_seconds": {"kind"},
    "dict_med_rejected": {"kind", "role"},
    "dict_med_poll_age_seconds": {"cursor"},
    "dict_med_poll_failures": {"cursor"},
}
"""The MED gauges (app/outbox.py ``_med_gauges``) and their labels."""

RATE_LIMIT_GAUGES = {
    "dict_rate_limit_available_tokens": {"policy"},
    "dict_rate_limit_capacity": {"policy"},
    "dict_rate_limit_utilisation": {"policy"},
    "dict_rate_limit_level": {"policy"},
    "dict_rate_limit_reading_age_seconds": set(),
}
"""The gauges of the DICT's buckets of ours (app/outbox.py ``_rate_limit_gauges``)."""

TARGET_LABELS = {"namespace", "job", "pod", "service", "instance", "endpoint", "container"}
"""Labels Prometheus adds to every series scraped through a ServiceMonitor."""

# Template syntax: a raw string such as {{`{{ $labels.pod }}`}}, then any action.
_RAW_ACTION = re.compile(r"\{\{-?\s*`.*?`\s*-?\}\}")
_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_ACTION_LINE = re.compile(r"^\s*\{\{.*?\}\}\s*$", re.DOTALL)
_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_VAR_FROM_VALUES = re.compile(r"\$([A-Za-z_]\w*)\s*:=\s*\.Values((?:\.[A-Za-z_]\w*)+)")
_METRIC = re.compile(r"\b((?:dict|dramatiq)_[a-z0-9_]+)\b")
_SELECTOR = re.compile(r"\b((?:dict|dramatiq)_[a-z0-9_]+)\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")


def _subcommands() -> set[str]:
    for action in parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("dict-connect has no subcommands")


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    return loaded


def _values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def _template_files() -> list[Path]:
    return sorted(p for p in TEMPLATES.iterdir() if p.suffix in {".yaml", ".tpl", ".txt"})


def _manifest_templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*.yaml"))


def _strings_in(path: Path, pattern: str) -> set[str]:
    return set(re.findall(pattern, path.read_text()))


_READS_ENV = r'(?:os\.environ\.get\(|os\.getenv\(|os\.environ\[)"([A-Z0-9_]+)"'


def _known_env() -> set[str]:
    """Every variable dict-connect reads: settings, the cli and the other modules of
    app/ and actors/ that read the environment, the simulator's options."""
    settings = _strings_in(ROOT / "app" / "settings.py", r'_(?:env|opt)\("([A-Z0-9_]+)"')
    modules = [*sorted((ROOT / "app").rglob("*.py")), *sorted((ROOT / "actors").rglob("*.py"))]
    read = {name for path in modules for name in _strings_in(path, _READS_ENV)}
    simulator = _strings_in(ROOT / "simulator" / "__main__.py", r'os\.environ\.get\("([A-Z0-9_]+)"')
    assert {"DATABASE_URL", "REDIS_URL", "BRIDGE_ADDRESS", "PARTICIPANT_ISPB"} <= settings
    return settings | read | simulator


def _resolve(values: dict[str, Any], dotted: str) -> bool:
    node: Any = values
    for key in dotted.strip(".").split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _skeleton(text: str) -> str:
    """The template with its actions blanked: lines that are only an action go, an
    action inside a line becomes a placeholder scalar."""
    text = _RAW_ACTION.sub("X", text)
    text = re.sub(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", "", text, flags=re.DOTALL)  # comments
    lines = [line for line in text.splitlines() if not _ACTION_LINE.match(line)]
    return _ACTION.sub("X", "\n".join(lines))


# compose/


def test_compose_services_run_real_subcommands() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis"} | APP_SERVICES == set(services)
    subcommands = _subcommands()
    for name in APP_SERVICES:
        service = services[name]
        assert service["image"].startswith("dict-connect"), name
        command = service["command"]
        assert isinstance(command, list), f"{name}: use the exec form"
        assert command[0] == "dict-connect", name
        assert command[1] in subcommands, f"{name}: no subcommand {command[1]!r}"
        assert command[1] == name, f"service {name} runs {command[1]}"


def test_compose_wiring() -> None:
    services = _compose()["services"]
    known = _known_env()
    for name in APP_SERVICES:
        env = services[name].get("environment", {})
        assert isinstance(env, dict), name
        assert set(env) <= known, f"{name}: variables nothing reads: {set(env) - known}"
    for name in ("migrate", "api", "worker", "scheduler"):
        env = services[name]["environment"]
        for var in ("DATABASE_URL", "REDIS_URL", "PARTICIPANT_ISPB", "API_KEY_PEPPER"):
            assert var in env, f"{name} lacks {var}"
        assert env["BRIDGE_ADDRESS"] == "simulator:15051"
        assert "@postgres:" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:")

    def probe(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"])

    assert "pg_isready" in probe("postgres")
    assert "redis-cli ping" in probe("redis")
    for name in ("api", "worker", "scheduler"):
        assert "/health" in probe(name), name

    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
            else:
                assert spec["condition"] in {"service_started", "service_completed_successfully"}
    for name in ("api", "worker", "scheduler"):
        migrate = services[name]["depends_on"]["migrate"]["condition"]
        assert migrate == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors
    # The schema is not vacuous: a misspelt key fails it.
    broken = _compose()
    broken["services"]["api"]["restart_policy"] = "always"
    assert not validator.is_valid(broken)


def test_compose_redis_persists() -> None:
    """The lookups' anti-scan buckets live in Redis only: a restart must keep them."""
    compose = _compose()
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert '--save ""' not in command and "--appendonly no" not in command
    volumes = [v.split(":") for v in redis["volumes"]]
    assert [name for name, target in volumes if target == "/data"] == ["redis-data"]
    assert "redis-data" in compose["volumes"]


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"write durations in seconds: {duration!r}"
    return int(match.group(1))


def test_grace_periods_cover_the_shutdown_timeouts() -> None:
    """Kubernetes and Docker SIGKILL a process that outlives its grace period: each
    gives at least SHUTDOWN_TIMEOUT_S plus 10 s (the api's preStop hook and the exit)."""
    values = _values()
    services = _compose()["services"]
    assert set(SHUTDOWN_TIMEOUT_S) == {"api", "worker", "scheduler"}
    for process, timeout in SHUTDOWN_TIMEOUT_S.items():
        assert values[process]["terminationGracePeriodSeconds"] >= timeout + 10, process
        assert _seconds(services[process]["stop_grace_period"]) >= timeout + 10, process
    deployment = (TEMPLATES / "api-deployment.yaml").read_text()
    sleep = re.search(
        r'preStop:\n(?:\s*#.*\n)*\s*exec:\n\s*command: \["sleep", "(\d+)"\]', deployment
    )
    assert sleep, "the api's preStop hook changed: count it against the grace period here"
    grace = values["api"]["terminationGracePeriodSeconds"]
    assert grace >= int(sleep.group(1)) + SHUTDOWN_TIMEOUT_S["api"] + 10


def _stages(dockerfile: str) -> dict[str, str]:
    """Each stage's text by its name (``AS name``; the last, unnamed one is ``final``)."""
    parts = re.split(r"^(FROM .*)$", dockerfile, flags=re.MULTILINE)[1:]
    stages = {}
    for line, body in zip(parts[0::2], parts[1::2], strict=True):
        name = re.search(r"\bAS (\S+)", line, re.IGNORECASE)
        stages[name.group(1) if name else "final"] = line + body
    return stages


def test_pyproject_ships_every_package_and_the_sql() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    include = pyproject["packages"]["find"]["include"]
    for init in sorted(ROOT.glob("*/__init__.py")):
        folder = init.parent.name
        if folder != "tests":
            assert f"{folder}*" in include, f"{folder}/ is a package the wheel would lack"
    data = pyproject["package-data"]
    assert data["sql.migrations"] == ["*.sql"] and data["sql.queries"] == ["*.sql"]
    assert "*.proto" in data["*"]


def test_dockerfile_installs_the_wheel_not_the_checkout() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    stages = _stages(dockerfile)
    assert set(stages) == {"build", "final"}
    # The build stage makes the wheel from the sources...
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    for folder in packages:
        assert re.search(rf"^COPY {folder} \./{folder}$", stages["build"], re.MULTILINE), folder
    assert re.search(r"^RUN pip wheel --no-deps --wheel-dir (\S+) \.$", stages["build"], re.M)
    # ... and the image installs that wheel: no source folder, no editable install.
    final = stages["final"]
    assert not re.search(r"--editable|\s-e\s", dockerfile)
    assert re.search(r"^COPY --from=build \S+ \S+$", final, re.MULTILINE)
    assert re.search(r"pip install --no-deps \S+\.whl", final)
    for folder in packages:
        assert not re.search(rf"^COPY {folder}\b", final, re.MULTILINE), folder
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    instructions = re.sub(r"\\\n", " ", dockerfile).splitlines()
    env = {
        name
        for line in instructions
        if line.startswith("ENV ")
        for name in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)=", line)
    }
    assert (
        {"API_HOST", "SIMULATOR_HOST"}
        <= env
        <= _known_env()
        | {
            "PYTHONDONTWRITEBYTECODE",
            "PYTHONUNBUFFERED",
            "PIP_NO_CACHE_DIR",
            "PIP_DISABLE_PIP_VERSION_CHECK",
            "PIP_ROOT_USER_ACTION",
        }
    )


# .github/


def _test_service_urls() -> dict[str, SplitResult]:
    """Where the tests look for PostgreSQL and Redis unless told otherwise (tests/conftest.py)."""
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    found = dict(re.findall(r'os\.environ\.get\("(TEST_[A-Z_]+_URL)", "([^"]+)"\)', conftest))
    return {
        "postgres": urlsplit(found["TEST_ADMIN_DATABASE_URL"]),
        "redis": urlsplit(found["TEST_REDIS_URL"]),
    }


def _run(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_github_workflow_runs_the_ci_script_against_the_test_services() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    jobs = workflow["jobs"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    [test] = [
        j for j in jobs.values() if re.search(r"(?m)^(bash )?\.ci/run$|\bmake test\b", _run(j))
    ]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    pythons = [
        s["with"]["python-version"] for s in test["steps"] if "setup-python" in s.get("uses", "")
    ]
    assert pythons == ["3.11"] and requires == ">=3.11"

    urls = _test_service_urls()
    postgres, redis = test["services"]["postgres"], test["services"]["redis"]
    assert postgres["image"] == "postgres:15" and redis["image"] == "redis:7"
    assert postgres["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert postgres["env"]["POSTGRES_DB"] == urls["postgres"].path.lstrip("/")
    assert postgres["env"].get("POSTGRES_USER", "postgres") == urls["postgres"].username
    for name, service, inside in (("postgres", postgres, 5432), ("redis", redis, 6379)):
        url = urls[name]
        assert url.hostname == "127.0.0.1", "service containers publish on the runner's loopback"
        assert f"{url.port}:{inside}" in service["ports"], name
        assert "--health-cmd" in service["options"], f"{name}: steps start before it answers"


def test_github_workflow_builds_the_image() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    builds = [j for j in jobs.values() if re.search(r"docker build\b.*compose/Dockerfile", _run(j))]
    assert len(builds) == 1
    run = _run(builds[0])
    assert "docker push" not in run and "--push" not in run
    assert "docker compose --file compose/compose.yaml config" in run


# charts/dict-connect/


def test_chart_and_values_parse() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "dict-connect"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert chart["appVersion"] == pyproject["project"]["version"]
    assert isinstance(_values(), dict)
    for extra in sorted((CHART / "ci").glob("*.yaml")):
        assert isinstance(yaml.safe_load(extra.read_text()), dict), extra.name


def test_every_values_path_in_the_templates_exists() -> None:
    values = _values()
    missing = []
    for path in _template_files():
        text = path.read_text()
        refs = set(_VALUES_REF.findall(text))
        for var, base in _VAR_FROM_VALUES.findall(text):  # $t := .Values.a.b; $t.c
            refs |= {base + rest for rest in re.findall(rf"\${var}((?:\.\w+)+)", text)}
        missing += [
            f"{path.name}: .Values{ref}" for ref in sorted(refs) if not _resolve(values, ref)
        ]
    assert not missing


def test_every_included_template_is_defined() -> None:
    helpers = (TEMPLATES / "_helpers.tpl").read_text()
    defined = set(re.findall(r'define "([^"]+)"', helpers))
    for path in _template_files():
        for name in re.findall(r'include "([^"]+)"', path.read_text()):
            assert name in defined, f"{path.name} includes undefined {name}"


@pytest.mark.parametrize("path", _manifest_templates(), ids=lambda p: p.name)
def test_templates_are_yaml_once_actions_are_blanked(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(_skeleton(path.read_text())) if d is not None]
    assert docs, f"{path.name} renders nothing"
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), path.name
        assert "name" in doc["metadata"], path.name


def test_containers_run_real_subcommands() -> None:
    subcommands = _subcommands()
    started = set()
    for path in _manifest_templates():
        text = path.read_text()
        for match in re.finditer(r'command: \["dict-connect"\]\n\s*args:\n\s*- (\S+)', text):
            assert match.group(1) in subcommands, f"{path.name}: {match.group(1)}"
            started.add(match.group(1))
    assert started == {"api", "worker", "scheduler", "migrate"}


def test_scheduler_runs_two_replicas_whose_ticks_cron_runs_dedupes() -> None:
    """Two schedulers by default, no single point of failure: both tick, and the
    cron_runs(job, slot) row lets one of them run each tick."""
    scheduler = _values()["scheduler"]
    assert scheduler["replicaCount"] == 2
    assert scheduler["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert "autoscaling" not in scheduler  # each replica ticks every cron: more is waste
    text = (TEMPLATES / "scheduler-deployment.yaml").read_text()
    replicas = re.findall(r"^\s*replicas:.*$", text, re.MULTILINE)
    assert [line.strip() for line in replicas] == ["replicas: {{ .Values.scheduler.replicaCount }}"]
    assert "Recreate" not in text and "cron_runs(job, slot)" in text
    pdb = (TEMPLATES / "scheduler-pdb.yaml").read_text()
    assert "kind: PodDisruptionBudget" in pdb and "minAvailable: {{ .Values.scheduler." in pdb
    # What the template's comment relies on: a slot is taken once, by an insert.
    spine = (ROOT / "sql" / "queries" / "spine.sql").read_text()
    claim = spine.split("-- name: claim_cron_slot\n")[1].split("\n\n")[0]
    assert claim.startswith("INSERT INTO cron_runs") and "ON CONFLICT DO NOTHING" in claim
    schema = (ROOT / "sql" / "schema.sql").read_text()
    cron_runs = schema.split("CREATE TABLE public.cron_runs")[1].split(";")[0]
    assert "PRIMARY KEY (job, slot)" in schema.split("ALTER TABLE ONLY public.cron_runs")[1]
    assert "slot timestamp with time zone NOT NULL" in cron_runs


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook() -> None:
    text = (TEMPLATES / "migrate-job.yaml").read_text()
    assert re.search(r"helm\.sh/hook: pre-install,pre-upgrade\n", text)
    assert re.search(r"args:\n\s*- migrate\n", text)
    assert "restartPolicy: Never" in text


def test_chart_sets_only_variables_the_code_reads() -> None:
    known = _known_env() | LIBRARY_ENV
    for path in _template_files():
        for name in re.findall(r"^\s*- name: ([A-Za-z_][A-Za-z0-9_]*)\s*$", path.read_text(), re.M):
            if name.isupper() or name in LIBRARY_ENV:
                assert name in known, f"{path.name} sets {name}, which nothing reads"


class _ScrapeRedis:
    """Just enough of a Redis client for ``RedisCollector.collect`` to yield its gauges:
    a pipeline whose every command answers 0."""

    def __init__(self) -> None:
        self.calls = 0

    def pipeline(self, **_: Any) -> _ScrapeRedis:
        self.calls = 0
        return self

    def __getattr__(self, name: str) -> Any:
        def queue(*args: Any, **kwargs: Any) -> None:
            self.calls += 1

        return queue

    def execute(self) -> list[int]:
        return [0] * self.calls


def _lookup_gauges() -> set[str]:
    """The gauges ``RedisCollector`` yields at scrape time (not registered at import)."""
    client = _ScrapeRedis()
    collector = lookup_metrics.RedisCollector(lambda: client, lambda: datetime.now(UTC))
    return {family.name for family in collector.collect()}


def _known_metrics() -> dict[str, set[str]]:
    """Metric name -> label names, for every series the alert rules may use."""
    prefix = observability.METRICS_PREFIX
    http_labels = {"method", "path", "status_code", "app_name"}
    litestar = importlib.util.find_spec("litestar.plugins.prometheus.middleware")
    assert litestar is not None and litestar.origin is not None
    source = Path(litestar.origin).read_text()
    assert all(f'"{label}":' in source for label in http_labels), "Litestar's labels changed"
    known = {
        f"{prefix}_{suffix}": http_labels
        for suffix in (
            "requests_total",
            "request_duration_seconds",
            "requests_in_progress",
            "requests_error_total",
        )
    }
    lookups = (lookup_metrics.LOOKUPS, lookup_metrics.CACHE, lookup_metrics.PER_PAYMENT)
    for metric in (bridge_metrics.CALLS, bridge_metrics.DURATION, *lookups):
        name = metric._name + ("_total" if metric._type == "counter" else "")
        known[name] = set(metric._labelnames)
    gauges = _lookup_gauges()
    assert "dict_lookup_own_index_built" in gauges, "RedisCollector's gauges changed"
    known |= {name: set() for name in gauges}
    outbox = (ROOT / "app" / "outbox.py").read_text()
    known |= {name: set() for name in re.findall(r'"(dict_(?:outbox|events)_[a-z_]+)"', outbox)}
    known |= {"dict_claims_open": {"role", "status"}, "dict_claims_deadline_missed": {"role"}}
    known |= {name: set() for name in re.findall(r'"(dict_claims_(?:poll|anomal)[a-z_]+)"', outbox)}
    sync = set(re.findall(r'"(dict_sync_[a-z_]+)"', outbox))  # _sync_gauges: per key type
    assert sync >= SYNC_GAUGES, f"app/outbox.py lacks {SYNC_GAUGES - sync}"
    known |= {name: {"key_type"} for name in sync} | {"dict_sync_runs_open": {"key_type", "status"}}
    med = set(re.findall(r'"(dict_med_[a-z_]+)"', outbox))  # _med_gauges
    assert med == set(MED_GAUGES), f"app/outbox.py's MED gauges changed: {med ^ set(MED_GAUGES)}"
    known |= MED_GAUGES
    buckets = set(re.findall(r'"(dict_rate_limit_[a-z_]+)"', outbox))  # _rate_limit_gauges
    assert buckets == set(RATE_LIMIT_GAUGES), f"rate-limit gauges changed: {buckets}"
    known |= RATE_LIMIT_GAUGES
    system = (ROOT / "app" / "api" / "system.py").read_text()
    known |= {name: set() for name in re.findall(r'"(dict_bridge_up)"', system)}
    assert all(
        f'"{name}"' in outbox for name in ("dict_claims_open", "dict_claims_deadline_missed")
    )
    dramatiq = importlib.util.find_spec("dramatiq.middleware.prometheus")
    assert dramatiq is not None and dramatiq.origin is not None
    names = re.findall(r'"(dramatiq_[a-z_]+)"', Path(dramatiq.origin).read_text())
    known |= {name: {"queue_name", "actor_name"} for name in names}
    return known


def _base_metric(name: str, known: dict[str, set[str]]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name.removesuffix(suffix) in known:
            return name.removesuffix(suffix)
    return name


def _queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every alert rule and dashboard panel."""
    rules = _RAW_ACTION.sub("X", (TEMPLATES / "prometheusrule.yaml").read_text())
    rules = _ACTION.sub("X", rules)
    found = [
        (f"rule {m[0]}", m[1])
        for m in re.findall(r"- alert: (\w+)\n\s*expr: \|\n((?:\s{12,}.*\n)+)", rules)
    ]
    dashboard = json.loads((CHART / "dashboards" / "dict-connect.json").read_text())
    for panel in dashboard["panels"]:
        found += [(f"panel {panel['title']}", t["expr"]) for t in panel.get("targets", [])]
    return found


def test_alerts_and_dashboard_use_exported_metrics_and_labels() -> None:
    known = _known_metrics()
    queries = _queries()
    assert len([q for q in queries if q[0].startswith("rule ")]) >= 6
    used = set()
    for where, query in queries:
        for name in _METRIC.findall(query):
            base = _base_metric(name, known)
            assert base in known, f"{where}: {name} is not exported"
            used.add(base)
        for name, matchers in _SELECTOR.findall(query):
            labels = set(_MATCHER.findall(matchers))
            allowed = known[_base_metric(name, known)] | TARGET_LABELS | {"le"}
            assert labels <= allowed, f"{where}: {name} has no label {labels - allowed}"
    for required in (
        "dict_outbox_dead_rows",
        "dict_outbox_oldest_due_seconds",
        "dict_outbox_due_rows",
        "dict_events_oldest_unpublished_seconds",
        "dict_claims_deadline_missed",
        "dict_claims_poll_age_seconds",
        "dict_claims_poll_failures",
        "dict_claims_anomalies",
        "dict_bridge_up",
        "dict_sync_last_ok_age_seconds",
        "dict_sync_runs_open",
        "dict_sync_last_run_ok",
        "dict_bridge_calls_total",
        "dict_bridge_call_duration_seconds",
        "dict_connect_http_requests_total",
        "dict_med_due_soon",
        "dict_med_overdue",
        "dict_med_poll_age_seconds",
        "dict_med_rejected",
        "dict_rate_limit_level",
        "dict_rate_limit_reading_age_seconds",
    ):
        assert required in used, f"nothing watches {required}"


def test_dashboard() -> None:
    dashboard = json.loads((CHART / "dashboards" / "dict-connect.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace"} <= variables
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert 'namespace="$namespace"' in target["expr"], panel["title"]
    configmap = (TEMPLATES / "grafana-dashboard.yaml").read_text()
    assert '.Files.Get "dashboards/dict-connect.json"' in configmap
    assert _values()["metrics"]["grafanaDashboard"]["labels"] == {"grafana_dashboard": "1"}
