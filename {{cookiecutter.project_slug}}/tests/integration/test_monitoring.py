"""The monitoring files agree with the service and with each other (promtool checks run in `make monitoring-check`).

Every metric an alert, recording rule or dashboard panel reads is one the service really exports
(scraped from an app built by the factory); the Grafana alert rules are the Prometheus alerts;
provisioning files carry what Grafana needs; every runbook link has its section.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from httpx import AsyncClient
{%- if cookiecutter.use_celery %}
from prometheus_client import generate_latest
{%- endif %}
from prometheus_client.parser import text_string_to_metric_families
{%- if cookiecutter.use_celery %}

from {{ cookiecutter.package_name }}.tasks.metrics import WorkerMetrics
{%- endif %}

from ..support import Account

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
ALERTS_DOC = MONITORING.parent / "docs" / "alerts.md"
CATALOG = MONITORING.parent / "catalog-info.yaml"
PROMETHEUS_RULES = sorted((MONITORING / "prometheus" / "rules").glob("*.yml"))
GRAFANA = MONITORING / "grafana"
# Series Prometheus makes itself rather than scraping them.
PROMETHEUS_SERIES = {"up"}
SELECTED_METRIC = re.compile(r"([a-zA-Z_][a-zA-Z0-9_:]*)\s*[{\[]")
RECORDED_NAME = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*(?::[a-zA-Z0-9_]+)+\b")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# A quoted string, a range, or a name with its matchers and, for a function, its opening parenthesis.
SELECTOR = re.compile(
    r'"[^"]*"|\[[^\]]*\]|(?P<metric>[a-zA-Z_][a-zA-Z0-9_:]*)\s*(?P<matchers>\{[^}]*\})?\s*(?P<call>\()?'
)
ALERT_EXPRESSION = re.compile(r"(?P<query>.+) (?P<op>[<>]) (?P<threshold>[0-9.]+)")
# Words of PromQL the selector pattern would take for metric names.
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
JOB_MATCHER = re.compile(r'\bjob\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>[^"]*)"')


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def prometheus_rules() -> list[dict[str, Any]]:
    return [rule for path in PROMETHEUS_RULES for group in _load(path)["groups"] for rule in group["rules"]]


def grafana_rules() -> list[dict[str, Any]]:
    document = _load(GRAFANA / "provisioning" / "alerting" / "rules.yaml")
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted((GRAFANA / "dashboards").glob("*.json"))]


def every_expression() -> list[str]:
    expressions = [rule["expr"] for rule in prometheus_rules()]
    expressions += [
        query["model"]["expr"] for rule in grafana_rules() for query in rule["data"] if "expr" in query["model"]
    ]
    expressions += [
        target["expr"] for board in dashboards() for panel in board["panels"] for target in panel["targets"]
    ]
    return expressions


def exported_series(exposition: str) -> set[str]:
    """Every series name the exposition can contain, including for families with no sample yet."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}
    return {
        family.name + suffix
        for family in text_string_to_metric_families(exposition)
        for suffix in suffixes.get(family.type, ("",))
    }


async def test_every_metric_the_monitoring_reads_is_exported(client: AsyncClient, account: Account) -> None:
    await client.get("/api/v1/items", headers=account.headers)
    exported = exported_series((await client.get("/metrics")).text)
{%- if cookiecutter.use_celery %}
    exported |= exported_series(generate_latest(WorkerMetrics().registry).decode())  # the worker's own endpoint
{%- endif %}
    recorded = {rule["record"] for rule in prometheus_rules() if "record" in rule}
    used = {name for expression in every_expression() for name in SELECTED_METRIC.findall(expression)}
    used |= {name for expression in every_expression() for name in RECORDED_NAME.findall(expression)}
    assert used - exported - recorded - PROMETHEUS_SERIES == set()
    assert recorded <= used, "a recording rule nothing reads"


@pytest.mark.own_app  # counts from zero
async def test_audit_series_start_at_zero(client: AsyncClient) -> None:
    """The refresh-token reuse alert needs a zero sample before the first reuse to see an increase."""
    exposition = (await client.get("/metrics")).text
    assert 'audit_events_total{action="auth.refresh_token_reuse",outcome="failure"} 0.0' in exposition
{%- if cookiecutter.use_celery %}


def test_worker_job_series_start_at_zero() -> None:
    """EmailDeliveryFailing needs a zero sample before a worker's first failed mail to see an increase."""
    registry = WorkerMetrics().registry
    assert registry.get_sample_value("celery_tasks_total", {"task": "mail.send_email", "outcome": "failed"}) == 0.0
{%- endif %}


def test_grafana_alert_rules_are_the_prometheus_alerts() -> None:
    grafana = {rule["title"]: rule for rule in grafana_rules()}
    alerts = [rule for rule in prometheus_rules() if "alert" in rule]
    assert sorted(grafana) == sorted(alert["alert"] for alert in alerts)
    for alert in alerts:
        rule = grafana[alert["alert"]]
        match = ALERT_EXPRESSION.fullmatch(alert["expr"].strip())
        assert match, f"{alert['alert']}: expression is not `<query> <op> <threshold>`"
        query, threshold = rule["data"][0]["model"], rule["data"][1]["model"]
        assert query["expr"] == match["query"]
        (condition,) = threshold["conditions"]
        expected = {"type": "gt" if match["op"] == ">" else "lt", "params": [float(match["threshold"])]}
        assert condition["evaluator"] == expected
        assert (rule["condition"], threshold["expression"]) == ("C", "A")
        assert (rule["for"], rule["labels"], rule["annotations"]) == (
            alert["for"],
            alert["labels"],
            alert["annotations"],
        )


def test_every_alert_is_documented_and_linked_to_its_runbook() -> None:
    sections = {
        line[3:].strip().lower()
        for line in ALERTS_DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    for alert in (rule for rule in prometheus_rules() if "alert" in rule):
        assert alert["labels"]["severity"] in {"critical", "warning"}
        assert {"summary", "description", "runbook_url"} <= set(alert["annotations"])
        path, anchor = alert["annotations"]["runbook_url"].split("#")
        assert path == "docs/alerts.md"
        assert anchor in sections


def series_selectors(expression: str) -> list[tuple[str, str]]:
    """(metric, label matchers) of every series a PromQL expression selects."""
    # Grouping and matching labels, quoted strings and ranges name no series.
    expression = GROUPING.sub("", expression)
    return [
        (match["metric"], match["matchers"] or "")
        for match in SELECTOR.finditer(expression)
        if match["metric"] and not match["call"] and match["metric"] not in KEYWORDS
    ]


def test_every_dashboard_query_reads_the_chosen_job_and_namespace() -> None:
    """One Prometheus may scrape several services and environments: no panel adds them together."""
    (board,) = dashboards()
    assert [variable["name"] for variable in board["templating"]["list"]] == ["job", "namespace"]
    for panel in board["panels"]:
        for target in panel["targets"]:
            selectors = series_selectors(target["expr"])
            assert selectors, target["expr"]
            for metric, matchers in selectors:
                assert 'namespace=~"$namespace"' in matchers, (panel["title"], metric)
                assert re.search(r'job=~?"[^"]*\$job\b', matchers), (panel["title"], metric)


def scrape_jobs() -> list[str]:
    """The job names in prometheus.yml: the service's{% if cookiecutter.use_celery %}, then the worker's{% endif %}."""
    return [config["job_name"] for config in _load(MONITORING / "prometheus" / "prometheus.yml")["scrape_configs"]]
{%- if cookiecutter.use_celery %}


def assert_selects_only_the_worker(job_pattern: str) -> None:
    """The worker is a scrape job of its own: `<service>-worker` in prometheus.yml, and
    `<namespace>/<PodMonitor name>` under the Prometheus Operator, whose PodMonitor has the same name."""
    service_job, worker_job = scrape_jobs()
    pattern = job_pattern.replace("$job", service_job)
    assert re.fullmatch(pattern, worker_job)
    assert re.fullmatch(pattern, f"production/{worker_job}")
    assert not re.fullmatch(pattern, service_job)


def test_the_job_panels_select_the_worker_scrape_job() -> None:
    (board,) = dashboards()
    job_matchers = {
        job_matcher
        for panel in board["panels"]
        for target in panel["targets"]
        for metric, matchers in series_selectors(target["expr"])
        if metric.startswith("celery_")
        for job_matcher in re.findall(r'job=~"([^"]+)"', matchers)
    }
    (worker_matcher,) = job_matchers
    assert_selects_only_the_worker(worker_matcher)


def test_the_worker_alert_reads_the_worker_scrape_job_and_the_service_job() -> None:
    """WorkerTargetDown reads the worker's `up`, and the service's for the namespaces with no worker scraped."""
    (alert,) = [rule for rule in prometheus_rules() if rule.get("alert") == "WorkerTargetDown"]
    up_matchers = [matchers for metric, matchers in series_selectors(alert["expr"]) if metric == "up"]
    (worker_matcher,) = [job for matchers in up_matchers for job in re.findall(r'job=~"([^"]+)"', matchers)]
    assert_selects_only_the_worker(worker_matcher)
    service_job, _ = scrape_jobs()
    assert [job for matchers in up_matchers for job in re.findall(r'job="([^"]+)"', matchers)] == [service_job]
{%- endif %}


def rule_queries() -> list[str]:
    """Every query of the alert and recording rules, and of the portal's graphs (catalog-info.yaml)."""
    queries = [rule["expr"] for rule in prometheus_rules()]
    queries += [
        query["model"]["expr"] for rule in grafana_rules() for query in rule["data"] if "expr" in query["model"]
    ]
    (component, *_) = yaml.safe_load_all(CATALOG.read_text(encoding="utf-8"))
    # `<query>|<label>,<query>|<label>`: a query of the annotation cannot hold a comma.
    graphs = component["metadata"]["annotations"]["prometheus.io/rule"].split(",")
    queries += [graph.rpartition("|")[0] for graph in graphs]
    return queries


def test_every_rule_reads_only_this_services_scrape_jobs() -> None:
    """One Prometheus may scrape other services that export the same series and record the same rule
    names (another service made from this template, any app instrumented the same way). Every series
    a rule or a portal graph selects, recorded ones included, is therefore limited to the service's
    job{% if cookiecutter.use_celery %} or the worker's{% endif %}: otherwise this service's alerts would fire for the others."""
    service_job, *_ = scrape_jobs()
    for query in rule_queries():
        selectors = series_selectors(query)
        assert selectors, query
        for metric, matchers in selectors:
            jobs = [(match["op"], match["value"]) for match in JOB_MATCHER.finditer(matchers)]
            assert len(jobs) == 1, f"{metric} is not limited to one scrape job in {query!r}"
            ((operator, job),) = jobs
{%- if cookiecutter.use_celery %}
            if "celery_" in metric or (metric == "up" and operator == "=~"):
                assert operator == "=~", (metric, query)
                assert_selects_only_the_worker(job)
                continue
{%- endif %}
            assert (operator, job) == ("=", service_job), f"{metric} reads job{operator}{job!r} in {query!r}"


def test_provisioning_is_complete_and_uses_one_datasource() -> None:
    datasources = _load(GRAFANA / "provisioning" / "datasources" / "prometheus.yaml")["datasources"]
    (datasource,) = [source for source in datasources if source["type"] == "prometheus"]
    uid = datasource["uid"]
    rules = grafana_rules()
    assert all(rule["data"][0]["datasourceUid"] == uid for rule in rules)
    boards = dashboards()
    uids = [rule["uid"] for rule in rules] + [board["uid"] for board in boards]
    assert len(set(uids)) == len(uids)
    assert all(0 < len(value) <= 40 for value in uids)  # Grafana's limit
    assert all(
        target["datasource"]["uid"] == uid
        for board in boards
        for panel in board["panels"]
        for target in panel["targets"]
    )
    (provider,) = _load(GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml")["providers"]
    assert provider["type"] == "file"
    points = _load(GRAFANA / "provisioning" / "alerting" / "contact-points.yaml")["contactPoints"]
    settings = [receiver["settings"] for point in points for receiver in point["receivers"]]
    assert all(str(value).startswith("$") for setting in settings for value in setting.values()), (
        "secrets come from the environment"
    )
    (policy,) = _load(GRAFANA / "provisioning" / "alerting" / "policies.yaml")["policies"]
    receivers = {policy["receiver"], *(route["receiver"] for route in policy["routes"])}
    assert receivers <= {point["name"] for point in points}
