"""The Kubernetes manifests agree with the service (`make deploy-check` validates and scans them).

Each test reads what `kubectl kustomize` renders for every environment: the objects a cluster
would receive, not the source files under deploy/.
"""

from __future__ import annotations
{% if cookiecutter.use_grafana_alerts %}
import json
{%- endif %}
import re
{%- if cookiecutter.use_celery or cookiecutter.database == "postgresql" %}
import shlex
{%- endif %}
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
{%- if cookiecutter.use_celery %}
from celery.utils.time import get_exponential_backoff_interval
{%- endif %}
from fastapi.routing import iter_route_contexts
{%- if cookiecutter.use_opentelemetry %}
from opentelemetry.sdk import environment_variables as otel_variables
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}
from sqlalchemy.engine import make_url
{%- endif %}
{%- if cookiecutter.use_playwright %}
from starlette.routing import Mount
{%- endif %}

{% if not cookiecutter.use_celery and cookiecutter.database == "postgresql" -%}
from {{ cookiecutter.package_name }}.__main__ import (
    build_parser,
    purge_audit_events,
    purge_credentials,
)
{% endif -%}
from {{ cookiecutter.package_name }}.main import create_app
{%- if cookiecutter.use_opentelemetry %}
from {{ cookiecutter.package_name }}.observability.tracing import service_resource
{%- endif %}
{%- if cookiecutter.use_vault %}
from {{ cookiecutter.package_name }}.secrets.vault import VaultConfig
{%- endif %}
from {{ cookiecutter.package_name }}.services.account_recovery import (
    RESET_PAGE,
    VERIFY_PAGE,
)
from {{ cookiecutter.package_name }}.services.email_change import CONFIRM_PAGE
from {{ cookiecutter.package_name }}.settings import Settings
{%- if cookiecutter.use_celery %}
from {{ cookiecutter.package_name }}.tasks.app import create_celery
{%- endif %}

from ..support import SECRET_KEY, TOTP_ENCRYPTION_KEY, IsolatedSettings

PROJECT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("staging", "production")
SLUG = "{{ cookiecutter.project_slug }}"
PACKAGE = "{{ cookiecutter.package_name }}"
PRE_STOP_SECONDS = 5
KUBECTL = shutil.which("kubectl")
# Prometheus and the probes reach these inside the cluster; the Ingress must not publish them.
INTERNAL_ROUTES = ("/metrics", "/health/")
PORTAL_LABEL = "backstage.io/kubernetes-id"
{%- if cookiecutter.use_vault %}
# The port a URL without one connects to.
DEFAULT_PORTS = {"https": 443, "http": 80}
{%- endif %}
# What the Secret the operator creates adds (docs/deploy.md lists its keys).
OPERATOR_SECRET: dict[str, Any] = {
    "secret_key": SECRET_KEY,
    "totp_encryption_key": TOTP_ENCRYPTION_KEY,
{%- if cookiecutter.database == "postgresql" %}
    "database_url": "postgresql+asyncpg://app@db.internal:5432/app",
{%- endif %}
}
{%- if cookiecutter.use_grafana_alerts %}
MONITORING = PROJECT / "monitoring"
{%- endif %}

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl renders the manifests: install it")


@cache
def rendered(environment: str) -> tuple[dict[str, Any], ...]:
    assert KUBECTL is not None
    command = [KUBECTL, "kustomize", str(PROJECT / "deploy" / environment)]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout  # noqa: S603 - fixed arguments
    return tuple(document for document in yaml.safe_load_all(output) if document)


def find(environment: str, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in rendered(environment) if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def config(environment: str) -> dict[str, str]:
    (config_map,) = [
        o
        for o in rendered(environment)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(f"{SLUG}-config")
    ]
    data: dict[str, str] = config_map["data"]
    return data


def container(environment: str, kind: str, name: str) -> dict[str, Any]:
    (first, *_) = find(environment, kind, name)["spec"]["template"]["spec"]["containers"]
    return dict(first)


def workloads(environment: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each object that runs pods, with its pod template."""
    found = []
    for o in rendered(environment):
        if o["kind"] in {"Deployment", "Job", "CronJob"}:
            spec = o["spec"]["jobTemplate"]["spec"] if o["kind"] == "CronJob" else o["spec"]
            found.append((o, spec["template"]))
    return found


def settings_from(data: dict[str, str]) -> Settings:
    """The settings a pod starts with: the ConfigMap plus the secret values the operator provides."""
{%- if cookiecutter.use_vault %}
    # The VAULT_* variables configure secrets/vault.py, not Settings.
    data = {key: value for key, value in data.items() if not key.startswith("VAULT_")}
{%- endif %}
{%- if cookiecutter.use_opentelemetry %}
    # The OTEL_* variables configure the OpenTelemetry SDK, not Settings.
    data = {key: value for key, value in data.items() if not key.startswith("OTEL_")}
{%- endif %}
    values: dict[str, Any] = {key.lower(): value for key, value in data.items()}
    return IsolatedSettings(**values, **OPERATOR_SECRET)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_config_key_is_a_setting(environment: str) -> None:
    known = {name.upper() for name in Settings.model_fields}
{%- if cookiecutter.use_vault %}
    known |= {f"VAULT_{name.upper()}" for name in VaultConfig.model_fields}
{%- endif %}
{%- if cookiecutter.use_opentelemetry %}
    known |= {value for name, value in vars(otel_variables).items() if name.startswith("OTEL_")}
{%- endif %}
    assert set(config(environment)) - known == set()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_config_passes_the_production_checks(environment: str) -> None:
    settings = settings_from(config(environment))
    assert settings.is_production


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_container_port_is_the_one_serve_listens_on(environment: str) -> None:
    api = container(environment, "Deployment", SLUG)
    settings = settings_from(config(environment))
    (port,) = api["ports"]
    assert port["containerPort"] == settings.port
    assert settings.host == "0.0.0.0"  # noqa: S104 - the pod's address, reached through the Service
    assert api["command"] == ["python", "-m", PACKAGE, "serve"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_probe_paths_are_routes_of_the_app(environment: str) -> None:
    routes = set(create_app(IsolatedSettings()).openapi()["paths"])
    api = container(environment, "Deployment", SLUG)
    probes = [api[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert probes == ["/health/live", "/health/live", "/health/ready"]
    assert set(probes) <= routes


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_shutdown_finishes_within_the_grace_period(environment: str) -> None:
    pod = find(environment, "Deployment", SLUG)["spec"]["template"]["spec"]
    settings = settings_from(config(environment))
    assert pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(PRE_STOP_SECONDS)]
    assert pod["terminationGracePeriodSeconds"] > PRE_STOP_SECONDS + settings.shutdown_timeout_seconds


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_secret_is_committed(environment: str) -> None:
    assert [o["metadata"]["name"] for o in rendered(environment) if o["kind"] == "Secret"] == []
    secret_settings = {"SECRET_KEY", "TOTP_ENCRYPTION_KEY"{% if cookiecutter.database == "postgresql" %}, "DATABASE_URL"{% endif %}{% if cookiecutter.use_sentry %}, "SENTRY_DSN"{% endif %}{% if cookiecutter.use_celery %}, "CELERY_BROKER_URL"{% endif %}}
    assert secret_settings.isdisjoint(config(environment))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_docs_name_every_placeholder_to_set(environment: str) -> None:
    """docs/deploy.md's list of the settings to set before a first deploy names every placeholder."""
    docs = " ".join((PROJECT / "docs" / "deploy.md").read_text(encoding="utf-8").split())
    (to_set,) = re.findall(r"set ((?:`\w+`(?:, | and )?)+) for each environment", docs)
    placeholders = {key for key, value in config(environment).items() if "example.com" in value}
    assert placeholders
    assert placeholders <= set(re.findall(r"`(\w+)`", to_set))
{%- if cookiecutter.use_vault %}
    assert "VAULT_PATH" in to_set
{%- endif %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_pod_pulls_the_image_with_the_registry_secret_the_docs_create(environment: str) -> None:
    """The image is private by default: each pod's service account names the pull secret that
    docs/deploy.md's first deploy creates, so no pod waits in ImagePullBackOff."""
    docs = " ".join((PROJECT / "docs" / "deploy.md").read_text(encoding="utf-8").split())
    (created,) = re.findall(r"`kubectl create secret docker-registry ([\w-]+) ", docs)
    accounts = {o["metadata"]["name"]: o for o in rendered(environment) if o["kind"] == "ServiceAccount"}
    pods = workloads(environment)
    assert pods
    for o, template in pods:
        pod = template["spec"]
        pull_secrets = pod.get("imagePullSecrets", []) + accounts[pod["serviceAccountName"]].get("imagePullSecrets", [])
        assert created in [secret["name"] for secret in pull_secrets], o["metadata"]["name"]


def published(path: str, ingress_paths: list[dict[str, Any]]) -> bool:
    """Whether a request for `path` matches one of the Ingress paths (Kubernetes' matching rules)."""
    return any(
        path == rule["path"] or (rule["pathType"] == "Prefix" and path.startswith(rule["path"].rstrip("/") + "/"))
        for rule in ingress_paths
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_ingress_publishes_every_route_but_metrics_and_health(environment: str) -> None:
    (rule,) = find(environment, "Ingress", SLUG)["spec"]["rules"]
    ingress_paths = rule["http"]["paths"]
    routes = {route.path for route in iter_route_contexts(create_app(IsolatedSettings()).routes) if route.path}
    internal = {path for path in routes if path.startswith(INTERNAL_ROUTES)}
    assert internal == {"/metrics", "/health/live", "/health/ready"}
    assert sorted(path for path in routes - internal if not published(path, ingress_paths)) == []
    assert sorted(path for path in internal if published(path, ingress_paths)) == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_links_in_mail_lead_to_the_pages_that_take_their_tokens(environment: str) -> None:
    base = urlsplit(settings_from(config(environment)).public_base_url)
    (rule,) = find(environment, "Ingress", SLUG)["spec"]["rules"]
    app = create_app(IsolatedSettings())
    pages = {RESET_PAGE, VERIFY_PAGE, CONFIRM_PAGE}
{%- if cookiecutter.use_playwright %}
    # The web UI serves them where it is mounted, published on the Ingress host.
    (ui,) = [route for route in app.routes if isinstance(route, Mount) and route.path == base.path]
    assert pages <= {route.path for route in iter_route_contexts(ui.routes)}
    assert base.hostname == rule["host"]
    assert all(published(base.path + page, rule["http"]["paths"]) for page in pages)
{%- else %}
    # The service serves no pages: the links lead to the user's own front end, not to the API's host.
    assert pages.isdisjoint(route.path for route in iter_route_contexts(app.routes))
    assert base.hostname != rule["host"]
{%- endif %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_ingress_lets_through_the_bodies_the_service_refuses_itself(environment: str) -> None:
    """An over-long body must reach the service, whose 413 has the error envelope; the controller's is HTML."""
    annotations = find(environment, "Ingress", SLUG)["metadata"]["annotations"]
    size = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert size.endswith("m")
    assert int(size.removesuffix("m")) * 1024 * 1024 > settings_from(config(environment)).max_body_bytes


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_only_the_ingress_controller_and_prometheus_reach_the_pods(environment: str) -> None:
    """The pods trust the forwarded client address of whatever reaches them (FORWARDED_ALLOW_IPS=*), so
    no other pod of Prometheus' namespace may: it could forge the address the audit log and rate limits use."""
    assert config(environment)["FORWARDED_ALLOW_IPS"] == "*"
    ingress = find(environment, "NetworkPolicy", SLUG)["spec"]["ingress"]
    peers = [
        (peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], peer.get("podSelector"))
        for rule in ingress
        for peer in rule["from"]
    ]
    assert peers == [("ingress-nginx", None), ("monitoring", {"matchLabels": {"app.kubernetes.io/name": "prometheus"}})]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_network_policy_lets_the_service_reach_what_its_settings_name(environment: str) -> None:
    egress = find(environment, "NetworkPolicy", SLUG)["spec"]["egress"]
    tcp_ports = {port["port"] for rule in egress for port in rule["ports"] if port.get("protocol", "TCP") == "TCP"}
    settings = settings_from(config(environment))
    assert settings.email_backend == "smtp"
    assert settings.smtp_port in tcp_ports
{%- if cookiecutter.database == "postgresql" %}
    assert make_url(settings.database_url).port in tcp_ports
{%- endif %}
{%- if cookiecutter.use_vault %}
    vault = urlsplit(config(environment)["VAULT_ADDR"])
    assert (vault.port or DEFAULT_PORTS[vault.scheme]) in tcp_ports
{%- endif %}
{%- if cookiecutter.use_opentelemetry %}
    assert urlsplit(config(environment)["OTEL_EXPORTER_OTLP_ENDPOINT"]).port in tcp_ports


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_traces_name_the_environment(environment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every environment runs with ENVIRONMENT=production; its traces must still tell them apart."""
    data = config(environment)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    for name, value in data.items():
        if name.startswith("OTEL_"):
            monkeypatch.setenv(name, value)
    attributes = service_resource(settings_from(data)).attributes
    assert (attributes["service.name"], attributes["deployment.environment.name"]) == (SLUG, environment)

{%- endif %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_make_deploy_waits_for_every_deployment(environment: str) -> None:
    waited = re.search(r"for component in ([\w ]+);", (PROJECT / "Makefile").read_text(encoding="utf-8"))
    assert waited is not None
    deployments = [o for o in rendered(environment) if o["kind"] == "Deployment"]
    components = {o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] for o in deployments}
    assert sorted(waited.group(1).split()) == sorted(components)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_object_carries_the_portal_label_but_no_selector_does(environment: str) -> None:
    """The developer portal finds the objects and pods by the id catalog-info.yaml gives it."""
    catalog = yaml.safe_load_all((PROJECT / "catalog-info.yaml").read_text(encoding="utf-8"))
    (component,) = [entity for entity in catalog if entity["kind"] == "Component"]
    portal_id = component["metadata"]["annotations"][PORTAL_LABEL]
    for o in rendered(environment):
        assert o["metadata"]["labels"][PORTAL_LABEL] == portal_id, o["metadata"]["name"]
    for o, template in workloads(environment):
        assert template["metadata"]["labels"][PORTAL_LABEL] == portal_id, o["metadata"]["name"]
        # A Deployment's selector cannot change: adding the label there would break upgrades.
        assert PORTAL_LABEL not in o["spec"].get("selector", {}).get("matchLabels", {}), o["metadata"]["name"]
{%- if cookiecutter.database == "postgresql" %}


def test_production_runs_several_replicas_across_nodes_without_downtime() -> None:
    deployment = find("production", "Deployment", SLUG)["spec"]
    assert "replicas" not in deployment  # the autoscaler's to set
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert find("production", "HorizontalPodAutoscaler", SLUG)["spec"]["minReplicas"] >= 2
    (spread,) = deployment["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"


def test_migrations_run_in_a_job_not_in_the_api_container() -> None:
    job = container("production", "Job", f"{SLUG}-migrate")
    assert job["command"] == ["python", "-m", PACKAGE, "migrate"]
    assert "initContainers" not in find("production", "Deployment", SLUG)["spec"]["template"]["spec"]
{%- else %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_sqlite_runs_one_replica_on_its_volume(environment: str) -> None:
    deployment = find(environment, "Deployment", SLUG)["spec"]
    assert (deployment["replicas"], deployment["strategy"]["type"]) == (1, "Recreate")
    volumes = {v["name"]: v for v in deployment["template"]["spec"]["volumes"]}
    claim = find(environment, "PersistentVolumeClaim", f"{SLUG}-data")
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    database_file = settings_from(config(environment)).database_url.removeprefix("sqlite+aiosqlite:///")
    mounts = {m["mountPath"] for m in deployment["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert str(Path(database_file).parent) in mounts
    (migrate,) = deployment["template"]["spec"]["initContainers"]
    assert migrate["command"] == ["python", "-m", PACKAGE, "migrate"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_container_given_the_sqlite_file_mounts_its_volume(environment: str) -> None:
    settings = settings_from(config(environment))
    assert settings.is_sqlite
    database_directory = str(Path(settings.database_url.removeprefix("sqlite+aiosqlite:///")).parent)
    claim = find(environment, "PersistentVolumeClaim", f"{SLUG}-data")["metadata"]["name"]
    given = []
    for o, template in workloads(environment):
        pod = template["spec"]
        volumes = {v["name"] for v in pod["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName") == claim}
        for each in pod.get("initContainers", []) + pod["containers"]:
            config_maps = [source.get("configMapRef", {}).get("name", "") for source in each.get("envFrom", [])]
            if any(name.startswith(f"{SLUG}-config") for name in config_maps):
                given.append((o["kind"], o["metadata"]["name"], each["name"]))
                mounts = {m["mountPath"] for m in each.get("volumeMounts", []) if m["name"] in volumes}
                assert database_directory in mounts, (o["metadata"]["name"], each["name"])
    # A ReadWriteOnce volume is safe for the containers of one pod only: everything runs in the API's.
    assert {(kind, name) for kind, name, _ in given} == {("Deployment", SLUG)}
    assert {name for *_, name in given} == {"migrate", "api"{% if cookiecutter.use_celery %}, "worker", "beat"{% endif %}}


def test_the_move_to_postgresql_opens_its_port() -> None:
    """docs/deploy.md gives the egress rule a move to PostgreSQL needs; pasted where it says, it lets
    the pods reach PostgreSQL's port and keeps every other rule."""
    (rule,) = re.findall(r"```yaml\n(.*?)```", (PROJECT / "docs" / "deploy.md").read_text(encoding="utf-8"), re.DOTALL)
    policy_file = PROJECT / "deploy" / "base" / "networkpolicy.yaml"
    before = yaml.safe_load(policy_file.read_text(encoding="utf-8"))["spec"]["egress"]
    after = yaml.safe_load(policy_file.read_text(encoding="utf-8") + rule)["spec"]["egress"]
    (added,) = after[len(before) :]
    assert after[: len(before)] == before
    assert {port["port"] for port in added["ports"]} == {5432}
    assert 5432 not in {port["port"] for each in before for port in each["ports"]}
{%- endif %}
{%- if cookiecutter.use_celery %}


def make_recipe(target: str) -> list[str]:
    """The command a Makefile target runs, as the container would: without uv and with the package name."""
    lines = (PROJECT / "Makefile").read_text(encoding="utf-8").splitlines()
    recipe = lines[next(i for i, line in enumerate(lines) if line.startswith(f"{target}:")) + 1]
    command = recipe.partition("--no-sync ")[2].replace("$(PACKAGE)", PACKAGE)
    return shlex.split(command)


def running(environment: str, container_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Deployment that runs the container of that name, and the container."""
    (found,) = [
        (o, each)
        for o, template in workloads(environment)
        for each in template["spec"]["containers"]
        if each["name"] == container_name
    ]
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_worker_runs_what_make_worker_runs(environment: str) -> None:
    _, worker = running(environment, "worker")
    assert worker["command"] == make_recipe("worker")
    settings = settings_from(config(environment))
    assert worker["ports"][0]["containerPort"] == settings.celery_worker_metrics_port


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_stopped_worker_finishes_its_running_jobs(environment: str) -> None:
    deployment, _ = running(environment, "worker")
    settings = settings_from(config(environment))
    grace_period = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace_period > settings.celery_task_time_limit_seconds + 3 * longest_result_backend_retries(settings)


def longest_result_backend_retries(settings: Settings) -> float:
    """Seconds one round of retrying the result backend can sleep, with the jitter at its top every
    time. Celery counts a retry before it sleeps, so the sleeps are those of retries 1 to N."""
    conf = create_celery(settings).conf
    sleeps_ms = (
        get_exponential_backoff_interval(
            conf.result_backend_base_sleep_between_retries_ms, retry, conf.result_backend_max_sleep_between_retries_ms
        )
        for retry in range(1, conf.result_backend_max_retries + 1)
    )
    return sum(sleeps_ms) / 1000


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_beat_never_runs_twice(environment: str) -> None:
    deployment, beat = running(environment, "beat")
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]["type"]) == (1, "Recreate")
    command, expected = beat["command"], make_recipe("beat")
    # The same command, with the schedule file on the pod's writable volume.
    assert command[: command.index("--schedule")] == expected[: expected.index("--schedule")]
{%- elif cookiecutter.database == "postgresql" %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_an_hourly_job_runs_both_purge_commands(environment: str) -> None:
    cron_job = find(environment, "CronJob", f"{SLUG}-purge")["spec"]
    assert (cron_job["schedule"].split()[1:], cron_job["concurrencyPolicy"]) == (["*", "*", "*", "*"], "Forbid")
    shell, flag, script = cron_job["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert (shell, flag) == ("sh", "-c")
    commands = [shlex.split(command) for command in script.split(" && ")]
    assert [command[:3] for command in commands] == [["python", "-m", PACKAGE]] * 2
    chosen = [build_parser().parse_args(command[3:]).handler for command in commands]
    assert chosen == [purge_credentials, purge_audit_events]
{%- endif %}
{%- if cookiecutter.use_celery and cookiecutter.use_grafana_alerts %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_prometheus_scrapes_the_worker_wherever_it_runs(environment: str) -> None:
    monitor = find(environment, "PodMonitor", f"{SLUG}-worker")["spec"]
    deployment, worker = running(environment, "worker")
    assert monitor["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] in {port["name"] for port in worker["ports"]}
{%- endif %}
{%- if cookiecutter.use_grafana_alerts %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_prometheus_rule_is_the_monitoring_rule_file(environment: str) -> None:
    rules = yaml.safe_load((MONITORING / "prometheus" / "rules" / "service.yml").read_text(encoding="utf-8"))
    assert find(environment, "PrometheusRule", SLUG)["spec"] == rules


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_monitors_give_the_jobs_the_rules_select(environment: str) -> None:
    """The rules read only the jobs prometheus.yml names, `{{ cookiecutter.project_slug }}`{% if cookiecutter.use_celery %} and `{{ cookiecutter.project_slug }}-worker`{% endif %}. Without a
    jobLabel the Prometheus Operator names a ServiceMonitor's job after the Service it scrapes{% if cookiecutter.use_celery %}, and
    a PodMonitor's `<namespace>/<PodMonitor name>`{% endif %}."""
    scrape_configs = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = [config["job_name"] for config in scrape_configs["scrape_configs"]]
    monitor = find(environment, "ServiceMonitor", SLUG)["spec"]
    assert "jobLabel" not in monitor
    scraped = [
        o["metadata"]["name"]
        for o in rendered(environment)
        if o["kind"] == "Service" and monitor["selector"]["matchLabels"].items() <= o["metadata"]["labels"].items()
    ]
    assert scraped == jobs[:1]
{%- if cookiecutter.use_celery %}
    assert "jobLabel" not in find(environment, "PodMonitor", jobs[1])["spec"]
{%- endif %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_dashboard_is_the_monitoring_dashboard(environment: str) -> None:
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "service.json").read_text(encoding="utf-8"))
    config_map = find(environment, "ConfigMap", f"{SLUG}-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["service.json"]) == dashboard
{%- endif %}
