"""Every metric the dashboard and the alerts name (infra/monitoring/) is exported by a running
service: each of the six services runs as a process, and its real `/metrics` is scraped."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from testsupport.servers import RedisServer, ServiceProcess

pytestmark = pytest.mark.integration

MONITORING = Path(__file__).resolve().parents[2] / "infra" / "monitoring"
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and"}
PROMQL_WORDS |= {"or", "unless", "offset", "le", "inf", "nan"}


def expressions() -> list[str]:
    """Every PromQL expression of the dashboard and of the alerting rules."""
    dashboard = json.loads((MONITORING / "dashboards" / "ticketing.json").read_text())
    found = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    found += [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]
    return found


def metric_names(expression: str) -> set[str]:
    """The metric names an expression reads: its identifiers, less label matchers, ranges,
    grouping labels, function names and keywords."""
    text = re.sub(r"\{[^}]*\}", " ", expression)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\b[a-z_]+\s*\(", "(", text)  # functions and aggregations
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", text)) - PROMQL_WORDS
    return {name for name in names if not re.fullmatch(r"[0-9.e]+", name)}


def exported(text: str) -> set[str]:
    """The sample names a /metrics page can have: its metric families' (declared even when a
    labelled metric has no series yet), with their type's suffixes."""
    names = set()
    for family in text_string_to_metric_families(text):
        for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
        names.update(sample.name for sample in family.samples)
    return names


def test_metric_names_are_parsed_from_promql() -> None:
    expression = (
        'sum by (service) (rate(ticketing_http_requests_total{status=~"5.."}[5m]))'
        " / max by (stream) (ticketing_stream_bytes / ticketing_stream_max_bytes) > 0.8"
    )
    assert metric_names(expression) == {
        "ticketing_http_requests_total",
        "ticketing_stream_bytes",
        "ticketing_stream_max_bytes",
    }


def test_every_metric_of_the_dashboard_and_alerts_is_exported_by_a_running_service(
    start_service: Callable[..., ServiceProcess], redis_server: RedisServer
) -> None:
    services = {
        "auth": start_service("auth", wait_ready=False),
        "tickets": start_service("tickets", wait_ready=False),
        "orders": start_service("orders", wait_ready=False),
        "payments": start_service(
            "payments",
            {"STRIPE_KEY": "sk_test_metrics", "STRIPE_API_BASE": "http://127.0.0.1:9"},
            wait_ready=False,
        ),
        "expiration": start_service(
            "expiration", {"REDIS_URL": redis_server.url}, wait_ready=False
        ),
        "client": start_service("client", {"API_BASE_URL": "http://127.0.0.1:9"}, wait_ready=False),
    }
    for service in services.values():
        service.wait_ready(timeout=60)

    scraped: set[str] = set()
    for name, service in services.items():
        response = httpx.get(f"{service.base_url}/metrics", timeout=10)
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/plain"), name
        names = exported(response.text)
        # Every service, the worker included, counts its requests (the probes at least).
        assert any(
            line.startswith("ticketing_http_requests_total{")
            and f'service="{name}"' in line
            and 'route="/readyz"' in line
            for line in response.text.splitlines()
        ), name
        scraped |= names

    named = set().union(*(metric_names(expression) for expression in expressions()))
    assert named, "no metric found in the dashboard and alerts"
    assert {name for name in named if not name.startswith("ticketing_")} == set()
    assert named - scraped == set()
