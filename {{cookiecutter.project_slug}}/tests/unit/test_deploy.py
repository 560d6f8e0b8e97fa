"""The Kubernetes manifests agree with the service (`make deploy-check` validates and scans them).

Each test reads what `kubectl kustomize` renders for every environment: the objects a cluster
would receive, not the source files under deploy/.
"""

from __future__ import annotations
{% if cookiecutter.use_grafana_alerts %}
import json
{%- endif %}
{%- if cookiecutter.use_celery or cookiecutter.database == "postgresql" %}
import shlex
{%- endif %}
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
{%- if cookiecutter.use_opentelemetry %}
from opentelemetry.sdk import environment_variables as otel_variables
{%- endif %}

{% if not cookiecutter.use_celery and cookiecutter.database == "postgresql" -%}
from {{ cookiecutter.package_name }}.__main__ import build_parser, purge_audit_events, purge_credentials
{% endif -%}
from {{ cookiecutter.package_name }}.main import create_app
{%- if cookiecutter.use_vault %}
from {{ cookiecutter.package_name }}.secrets.vault import VaultConfig
{%- endif %}
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import SECRET_KEY, TOTP_ENCRYPTION_KEY, IsolatedSettings

PROJECT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("staging", "production")
SLUG = "{{ cookiecutter.project_slug }}"
PACKAGE = "{{ cookiecutter.package_name }}"
PRE_STOP_SECONDS = 5
KUBECTL = shutil.which("kubectl")
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
{%- endif %}
{%- if cookiecutter.use_celery %}


def make_recipe(target: str) -> list[str]:
    """The command a Makefile target runs, as the container would: without uv and with the package name."""
    lines = (PROJECT / "Makefile").read_text(encoding="utf-8").splitlines()
    recipe = lines[next(i for i, line in enumerate(lines) if line.startswith(f"{target}:")) + 1]
    command = recipe.partition("--no-sync ")[2].replace("$(PACKAGE)", PACKAGE)
    return shlex.split(command)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_worker_runs_what_make_worker_runs(environment: str) -> None:
    worker = container(environment, "Deployment", f"{SLUG}-worker")
    assert worker["command"] == make_recipe("worker")
    settings = settings_from(config(environment))
    assert worker["ports"][0]["containerPort"] == settings.celery_worker_metrics_port


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_beat_never_runs_twice(environment: str) -> None:
    beat = find(environment, "Deployment", f"{SLUG}-beat")["spec"]
    assert (beat["replicas"], beat["strategy"]["type"]) == (1, "Recreate")
    command, expected = beat["template"]["spec"]["containers"][0]["command"], make_recipe("beat")
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
{%- if cookiecutter.use_grafana_alerts %}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_prometheus_rule_is_the_monitoring_rule_file(environment: str) -> None:
    rules = yaml.safe_load((MONITORING / "prometheus" / "rules" / "service.yml").read_text(encoding="utf-8"))
    assert find(environment, "PrometheusRule", SLUG)["spec"] == rules


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_dashboard_is_the_monitoring_dashboard(environment: str) -> None:
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "service.json").read_text(encoding="utf-8"))
    config_map = find(environment, "ConfigMap", f"{SLUG}-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["service.json"]) == dashboard
{%- endif %}
