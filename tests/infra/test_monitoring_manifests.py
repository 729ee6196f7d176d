"""Offline checks of the monitoring manifests (infra/monitoring, applied beside the platform)
and of what the ingress never routes (each service's /metrics)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
SERVICES = {"auth", "tickets", "orders", "payments", "expiration", "client"}
HOSTS = {"k8s": "ticketing.dev", "k8s-prod": "www.ticketing.example"}
ALERTS = {
    "TicketingConsumerLag": "ticketing_consumer_pending_messages",
    "TicketingOutboxStale": "ticketing_outbox_oldest_pending_age_seconds",
    "TicketingDeadLetters": 'ticketing_stream_messages{stream="TICKETING_DEAD"}',
    "TicketingHttp5xx": 'status=~"5.."',
    "TicketingPaymentReconciliationFailing": "ticketing_payments_reconciled_total",
    "TicketingJetStreamStorage": "ticketing_stream_bytes / ticketing_stream_max_bytes",
}
"""The alerts the platform must have, and what each one watches."""


def rendered(directory: str) -> list[dict[str, Any]]:
    kubectl = Path(sys.executable).parent / "kubectl"
    command = str(kubectl) if kubectl.exists() else shutil.which("kubectl")
    assert command, "kubectl is not installed; run `make install`"
    done = subprocess.run(
        [command, "kustomize", str(INFRA / directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


def test_every_pod_of_every_service_is_scraped_on_its_http_port() -> None:
    monitor = one(rendered("monitoring"), "PodMonitor")
    (selector,) = monitor["spec"]["selector"]["matchExpressions"]
    assert selector["key"] == "app"
    assert selector["operator"] == "In"
    assert set(selector["values"]) == SERVICES
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    deployments = {
        doc["spec"]["template"]["metadata"]["labels"]["app"]: doc
        for doc in rendered("k8s")
        if doc["kind"] == "Deployment"
    }
    for service in SERVICES:  # the port it names is the one each service listens on
        ports = deployments[service]["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert {"name": "http", "containerPort": 3000} in ports


def test_the_alerts_cover_lag_outbox_dead_letters_5xx_reconciliation_and_storage() -> None:
    rules = one(rendered("monitoring"), "PrometheusRule")
    alerts = {
        rule["alert"]: rule
        for group in rules["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    for name, watched in ALERTS.items():
        assert name in alerts, f"no alert {name}"
        assert watched in " ".join(alerts[name]["expr"].split()), name
    for rule in alerts.values():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_the_dashboard_is_a_grafana_config_map_of_the_committed_json() -> None:
    config_map = one(rendered("monitoring"), "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["ticketing.json"])
    on_disk = json.loads((INFRA / "monitoring" / "dashboards" / "ticketing.json").read_text())
    assert dashboard == on_disk
    assert dashboard["uid"] == "ticketing"
    assert all(panel["targets"] for panel in dashboard["panels"])


@pytest.mark.parametrize("environment", sorted(HOSTS))
def test_the_ingress_sends_metrics_to_the_error_backend_on_every_host(environment: str) -> None:
    docs = rendered(environment)
    ingresses = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Ingress"}
    hosts = {rule["host"] for rule in ingresses["ingress-srv"]["spec"]["rules"]}
    assert hosts == {HOSTS[environment]}
    internal = ingresses["ingress-internal"]["spec"]["rules"]
    assert {rule["host"] for rule in internal} == hosts
    for rule in internal:
        (path,) = rule["http"]["paths"]
        assert path["path"] == "/metrics"
        assert path["pathType"] == "Exact"
        assert path["backend"]["service"] == {"name": "ingress-errors-srv", "port": {"number": 80}}
