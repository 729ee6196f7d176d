"""Offline checks of everything that deploys the platform: the Kubernetes manifests (both
kustomize environments), skaffold.yaml, the GitHub workflows, the Dockerfile and the routing
table. Nothing here needs a cluster or Docker: the manifests are rendered with `kubectl
kustomize` and checked against the Kubernetes API schemas, the rest against their own schemas
and linters, all installed by the workspace's dev group.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from common.events.stream import nats_servers
from common.settings import required_variables, variables
from devstack.ingress import ERROR_CODES, INGRESS_ERRORS_FILE, TEMPLATE_FILE, nginx_binary
from devstack.nats_permissions import authorization_conf, password_variable, users
from devstack.platform import SPECS
from testsupport.servers import ManagedProcess, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
WORKFLOWS = REPO / ".github" / "workflows"
SKAFFOLD_SCHEMA = INFRA / "schemas" / "skaffold-v4beta11.json"
CONTRACT_MD = REPO.parent / "shared" / "CONTRACT.md"

SERVICES = ("auth", "tickets", "orders", "payments", "expiration", "client")
HTTP_SERVICES = ("auth", "tickets", "orders", "payments", "client")
DATABASE_SERVICES = ("auth", "tickets", "orders", "payments")
ENVIRONMENTS = ("k8s", "k8s-prod")
# The oldest Kubernetes the manifests must still be valid for, and the newest schemas known.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")

DEV_HOST = "ticketing.dev"
PROD_HOST = "www.ticketing.example"
INGRESS_CONTROLLER = "ingress-nginx-controller.ingress-nginx.svc.cluster.local"

# What each service reads: its settings model (the one list; see `common.settings`).
SERVICE_VARIABLES: dict[str, frozenset[str]] = {
    name: variables(spec.settings) for name, spec in SPECS.items()
}
REQUIRED_VARIABLES: dict[str, frozenset[str]] = {
    name: required_variables(spec.settings) for name, spec in SPECS.items()
}
# The stream's settings (optional, shared by every service that uses NATS: ConfigMap nats-stream).
STREAM_ENV = frozenset(
    {"NATS_STREAM_REPLICAS", "NATS_STREAM_MAX_AGE_SECONDS", "NATS_STREAM_MAX_BYTES"}
)
NATS_NODES = ("nats-0", "nats-1", "nats-2")
SECRET_ENV = {
    "JWT_KEY": "jwt-secret",
    "STRIPE_KEY": "stripe-secret",
    "STRIPE_PUBLISHABLE_KEY": "stripe-secret",
}
CREDENTIALS = {
    "NATS_PASSWORD": ("nats-users", "<service>"),
    "MONGO_PASSWORD": ("mongo-users", "<service>"),
    "REDIS_PASSWORD": ("expiration-redis", "password"),
}
"""Passwords a Deployment reads from a Secret only to put them into a URL of the contract
(`$(NATS_PASSWORD)` in NATS_URL ...): not read by the service itself."""
NAMESPACE = "ticketing"

Doc = dict[str, Any]


# --- helpers -----------------------------------------------------------------------------


def tool(name: str) -> str:
    """A command-line tool of the workspace's environment (next to this interpreter)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed; run `make install` (uv sync --all-packages)"
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def assert_succeeds(*argv: str) -> str:
    result = run(*argv)
    assert result.returncode == 0, (
        f"`{' '.join(argv)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@functools.cache
def rendered(environment: str) -> str:
    return assert_succeeds(tool("kubectl"), "kustomize", str(INFRA / environment))


@functools.cache
def documents(environment: str) -> tuple[Doc, ...]:
    return tuple(doc for doc in yaml.safe_load_all(rendered(environment)) if doc)


def find(environment: str, kind: str, name: str) -> Doc:
    matches = [
        d for d in documents(environment) if d["kind"] == kind and d["metadata"]["name"] == name
    ]
    assert len(matches) == 1, f"{environment}: expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def services_by_name(environment: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in documents(environment) if d["kind"] == "Service"}


def container(workload: Doc) -> Doc:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container expected"
    return containers[0]


def env_of(workload: Doc) -> dict[str, Doc]:
    return {entry["name"]: entry for entry in container(workload).get("env", [])}


def routes() -> list[tuple[str, str]]:
    table = load_yaml(INFRA / "routes.yaml")
    assert isinstance(table, list)
    return [(entry["path"], entry["service"]) for entry in table]


def workflow(name: str) -> Doc:
    path = WORKFLOWS / name
    assert path.is_file(), f"missing workflow {name}"
    data = load_yaml(path)
    # YAML 1.1 reads the key `on` as the boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def run_lines(wf: Doc) -> list[str]:
    lines: list[str] = []
    for job in wf["jobs"].values():
        for step in job["steps"]:
            lines += [line.strip() for line in step.get("run", "").splitlines()]
    return lines


def uses(wf: Doc) -> list[str]:
    return [step["uses"] for job in wf["jobs"].values() for step in job["steps"] if "uses" in step]


DOCKERFILE = REPO / "Dockerfile"


@functools.cache
def dockerfile() -> tuple[dict[str, str], list[tuple[str, str, list[tuple[str, str]]]]]:
    """The global ARGs (name -> default) and, per stage, (base image with the ARGs put in,
    stage name, [(instruction, arguments)]) of the one Dockerfile."""
    text = DOCKERFILE.read_text()
    logical = re.sub(r"\\\n", " ", text)  # join continuation lines
    global_args: dict[str, str] = {}
    stages: list[tuple[str, str, list[tuple[str, str]]]] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            image, _, name = arguments.partition(" AS ")
            for arg, default in global_args.items():
                image = image.replace(f"${{{arg}}}", default)
            stages.append((image.strip(), name.strip(), []))
        elif not stages:
            assert instruction == "ARG", f"Dockerfile: {instruction} before FROM"
            name, _, default = arguments.partition("=")
            global_args[name.strip()] = default.strip()
        else:
            stages[-1][2].append((instruction, " ".join(arguments.split())))
    return global_args, stages


def dockerfile_stages() -> list[tuple[str, str, list[tuple[str, str]]]]:
    return dockerfile()[1]


def workspace_members() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return list(config["tool"]["uv"]["workspace"]["members"])


# --- the validators ----------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_kustomization_renders_valid_kubernetes(
    environment: str, version: str, tmp_path: Path
) -> None:
    manifest = tmp_path / f"{environment}.yaml"
    manifest.write_text(rendered(environment))
    assert_succeeds(
        tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, str(manifest)
    )


def test_every_manifest_is_part_of_the_base_kustomization() -> None:
    kustomization = load_yaml(INFRA / "k8s" / "kustomization.yaml")
    files = {p.name for p in (INFRA / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_skaffold_config_matches_its_schema() -> None:
    assert_succeeds(tool("check-jsonschema"), "--schemafile", str(SKAFFOLD_SCHEMA), "skaffold.yaml")


def test_workflows_match_the_github_actions_schema() -> None:
    files = sorted(str(p.relative_to(REPO)) for p in WORKFLOWS.glob("*.yml"))
    assert files
    assert_succeeds(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files)


def test_dockerfile_passes_hadolint() -> None:
    assert_succeeds(tool("hadolint"), "Dockerfile")


def test_yaml_files_pass_yamllint() -> None:
    assert_succeeds(
        tool("yamllint"),
        "--strict",
        "--config-file",
        ".yamllint",
        "infra",
        ".github",
        "skaffold.yaml",
        ".yamllint",
    )


def contract_variables() -> set[str]:
    text = CONTRACT_MD.read_text()
    section = text.split("## 2.", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            names.update(re.findall(r"`([A-Z_]+)`", row.split("|")[1]))
    return names


def test_the_settings_read_the_contracts_variables_and_only_optional_others() -> None:
    """Section 2 of the contract: every variable it names is read by some service, and any
    variable it does not name is optional (with a default that works locally)."""
    if not CONTRACT_MD.is_file():
        pytest.skip(f"{CONTRACT_MD} is not beside the repository")
    contract = contract_variables()
    read = frozenset().union(*SERVICE_VARIABLES.values())
    assert contract <= read
    beyond = {
        name for name in read - contract if any(name in r for r in REQUIRED_VARIABLES.values())
    }
    assert beyond == set()


# --- the workloads -----------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_service_has_deployment_service_probes_and_resources(
    environment: str, service: str
) -> None:
    deployment = find(environment, "Deployment", f"{service}-depl")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    main = container(deployment)
    assert main["image"].split(":")[0].endswith(f"ticketing/{service}")
    assert {"name": "http", "containerPort": 3000} in main["ports"]
    assert env_of(deployment)["PORT"]["value"] == "3000"

    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert main[probe]["httpGet"] == {"path": path, "port": "http"}, probe

    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= main["resources"][kind].keys(), kind
    # Long enough for uvicorn's graceful shutdown, the listeners' last event and NATS drain.
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 45
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True

    service_doc = find(environment, "Service", f"{service}-srv")
    assert service_doc["spec"]["type"] == "ClusterIP"
    assert service_doc["spec"]["selector"].items() <= labels.items()
    assert [(p["port"], p["targetPort"]) for p in service_doc["spec"]["ports"]] == [(3000, "http")]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_environment_variables_are_the_contracts(environment: str, service: str) -> None:
    env = env_of(find(environment, "Deployment", f"{service}-depl"))
    credentials = env.keys() & CREDENTIALS.keys()
    assert env.keys() - credentials <= SERVICE_VARIABLES[service], "only what the service reads"
    assert REQUIRED_VARIABLES[service] <= env.keys(), "everything it needs"
    for name in credentials:
        # From its Secret, only to be put into a URL of the contract (declared before it).
        ref = env[name]["valueFrom"]["secretKeyRef"]
        secret, key = CREDENTIALS[name]
        assert (ref["name"], ref["key"]) == (secret, key.replace("<service>", service))
        users = [n for n, entry in env.items() if f"$({name})" in entry.get("value", "")]
        assert users, f"{name} is not used"
        assert all(list(env).index(name) < list(env).index(u) for u in users)

    for name, secret in SECRET_ENV.items():
        if name in env:
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (secret, name)
    if "NATS_CLIENT_ID" in env:
        assert env["NATS_CLIENT_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    if "NATS_URL" in env:
        # Every server of the cluster, so that a client moves to another when one goes; each
        # with the service's own user (infra/k8s/nats/authorization.conf).
        assert nats_servers(env["NATS_URL"]["value"]) == [
            f"nats://{service}:$(NATS_PASSWORD)@{node}.nats-srv:4222" for node in NATS_NODES
        ]
    if "REDIS_URL" in env:
        assert env["REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@expiration-redis-srv:6379/0"
    for name in STREAM_ENV & env.keys():
        ref = env[name]["valueFrom"]["configMapKeyRef"]
        assert (ref["name"], ref["key"]) == ("nats-stream", name)
    if "COOKIE_SECURE" in env:
        # https in both environments (ingress-nginx's certificate on ticketing.dev).
        assert env["COOKIE_SECURE"]["value"] == "true"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_address_in_the_environment_is_a_service_of_the_cluster(environment: str) -> None:
    """A URL names a Service of the cluster, or one pod of a StatefulSet through its headless
    Service (`nats-0.nats-srv`); a list of URLs (NATS_URL) is checked address by address."""
    services = services_by_name(environment)
    stateful = {
        d["spec"]["serviceName"]: d for d in documents(environment) if d["kind"] == "StatefulSet"
    }
    checked = 0
    for deployment in (d for d in documents(environment) if d["kind"] == "Deployment"):
        for name, entry in env_of(deployment).items():
            value = entry.get("value", "")
            if "://" not in value:
                continue
            for address in nats_servers(value):
                url = urlsplit(address)
                host = url.hostname or ""
                if name == "API_BASE_URL":
                    expected = INGRESS_CONTROLLER if environment == "k8s" else PROD_HOST
                    assert host == expected, value
                    continue
                pod, _, service = host.partition(".") if "." in host else ("", "", host)
                where = f"{deployment['metadata']['name']}: {name}={value}"
                assert service in services, where
                if pod:
                    owner = stateful[service]
                    assert services[service]["spec"]["clusterIP"] == "None", where
                    pods = [
                        f"{owner['metadata']['name']}-{i}" for i in range(owner["spec"]["replicas"])
                    ]
                    assert pod in pods, where
                assert url.port in [p["port"] for p in services[service]["spec"]["ports"]], where
                checked += 1
    # Six NATS_URL of three servers (auth's too: revoked sessions; the client's too: live
    # pages) and a REDIS_URL; four MONGO_URI where MongoDB is in-cluster.
    assert checked == 6 * 3 + 1 + (4 if environment == "k8s" else 0)


@pytest.mark.parametrize("service", DATABASE_SERVICES)
def test_each_database_is_a_mongodb_7_statefulset_with_a_volume(service: str) -> None:
    mongo = find("k8s", "StatefulSet", f"{service}-mongo")
    assert mongo["spec"]["serviceName"] == f"{service}-mongo-srv"
    main = container(mongo)
    assert main["image"].startswith("mongo:7")
    claims = {c["metadata"]["name"] for c in mongo["spec"]["volumeClaimTemplates"]}
    assert {"name": "data", "mountPath": "/data/db"} in main["volumeMounts"]
    assert "data" in claims
    uri = env_of(find("k8s", "Deployment", f"{service}-depl"))["MONGO_URI"]["value"]
    assert uri == f"mongodb://{service}:$(MONGO_PASSWORD)@{service}-mongo-srv:27017/{service}"

    # Authentication on: a root user and the service's own, created with the data directory.
    env = env_of(mongo)
    assert env["MONGO_INITDB_DATABASE"]["value"] == service
    assert env["MONGO_SERVICE_USER"]["value"] == service
    for name, key in (
        ("MONGO_INITDB_ROOT_PASSWORD", f"{service}-root"),
        ("MONGO_SERVICE_PASSWORD", service),
    ):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "mongo-users", "key": key}
    init = next(m for m in main["volumeMounts"] if m["mountPath"] == "/docker-entrypoint-initdb.d")
    volumes = mongo["spec"]["template"]["spec"]["volumes"]
    [volume] = [v for v in volumes if v["name"] == init["name"]]
    script = find("k8s", "ConfigMap", volume["configMap"]["name"])["data"]["create-user.js"]
    assert "process.env.MONGO_SERVICE_PASSWORD" in script
    assert 'role: "readWrite", db: database' in script


def nats_config_map(environment: str) -> dict[str, str]:
    """The files of the NATS servers' /etc/nats, as deployed."""
    nats = find(environment, "StatefulSet", "nats")
    [volume] = [v for v in nats["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
    data: dict[str, str] = find(environment, "ConfigMap", volume["configMap"]["name"])["data"]
    return data


def nats_config(environment: str) -> str:
    return nats_config_map(environment)["nats.conf"]


def size_in_bytes(size: str) -> int:
    """`5Gi`, `4GB`, `512Mi`, `2147483648` as bytes."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9}
    for unit, factor in units.items():
        if size.endswith(unit):
            return int(size[: -len(unit)]) * factor
    return int(size)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_nats_is_a_three_node_jetstream_cluster_on_volumes(environment: str) -> None:
    nats = find(environment, "StatefulSet", "nats")
    spec = nats["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "Parallel"  # a majority must be up to elect a leader
    main = container(nats)
    image, _, tag = main["image"].partition(":")
    assert image == "nats"
    assert tuple(int(n) for n in tag.split("-")[0].split(".")[:2]) >= (2, 10)
    assert main["command"] == ["nats-server", "--config", "/etc/nats/nats.conf"]
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts["data"] == "/data"
    assert [c["metadata"]["name"] for c in spec["volumeClaimTemplates"]] == ["data"]
    assert env_of(nats)["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}

    config = nats_config(environment)
    assert "server_name: $POD_NAME" in config
    # The users (made from the code, tests/infra/test_nats_permissions.py), each password from
    # the Secret nats-users; clients keep to the servers of NATS_URL, which carry it.
    assert "include ./authorization.conf" in config
    assert nats_config_map(environment)["authorization.conf"] == authorization_conf()
    assert "no_advertise: true" in config
    env = env_of(nats)
    for user in users():
        ref = env[password_variable(user)]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "nats-users", "key": user}
    assert "store_dir: /data" in config
    routes = re.findall(r"nats://([\w-]+)\.nats-srv:6222", config)
    assert routes == list(NATS_NODES)

    # Lame duck on the way out, with time for it before the kill.
    pid_file = re.search(r"pid_file: (\S+)", config)
    assert pid_file is not None
    assert main["lifecycle"]["preStop"]["exec"]["command"] == [
        "nats-server",
        "--signal",
        f"ldm={pid_file.group(1)}",
    ]
    assert mounts["pid"] == str(Path(pid_file.group(1)).parent)
    lame_duck = re.search(r"lame_duck_duration: (\d+)s", config)
    assert lame_duck is not None
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > int(lame_duck.group(1))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"]["port"] == "monitor", probe

    # The store cannot outgrow its volume: stream limit < server limit < volume.
    volume = spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    server_limit = re.search(r"max_file_store: (\S+)", config)
    assert server_limit is not None
    stream = find(environment, "ConfigMap", "nats-stream")["data"]
    assert stream["NATS_STREAM_REPLICAS"] == "3"
    assert int(stream["NATS_STREAM_MAX_AGE_SECONDS"]) > 600  # beyond the duplicate window
    stream_limit = int(stream["NATS_STREAM_MAX_BYTES"])
    assert stream_limit < size_in_bytes(server_limit.group(1)) < size_in_bytes(volume)

    service = find(environment, "Service", "nats-srv")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "client": 4222,
        "cluster": 6222,
        "monitor": 8222,
    }
    assert spec["serviceName"] == "nats-srv"

    budget = find(environment, "PodDisruptionBudget", "nats")
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "nats"}}}
    [spread] = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"


def test_expiration_redis_keeps_an_append_only_file_on_a_volume() -> None:
    redis = find("k8s", "StatefulSet", "expiration-redis")
    main = container(redis)
    args = main["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    # Every scheduled job on disk before the listener acknowledges its order:created.
    assert args[args.index("--appendfsync") + 1] == "always"
    assert args[args.index("--dir") + 1] == "/data"
    assert {"name": "data", "mountPath": "/data"} in main["volumeMounts"]
    assert [c["metadata"]["name"] for c in redis["spec"]["volumeClaimTemplates"]] == ["data"]
    # A password required, from the Secret expiration's REDIS_URL is made with.
    assert args[args.index("--requirepass") + 1] == "$(REDISCLI_AUTH)"
    ref = env_of(redis)["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "expiration-redis", "key": "password"}


# --- the routing ---------------------------------------------------------------------------


def test_routes_table_covers_every_http_service_once() -> None:
    table = routes()
    assert sorted(service for _, service in table) == sorted(HTTP_SERVICES)
    assert ("/", "client") in table
    assert len({path for path, _ in table}) == len(table)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_ingress_rules_are_the_routes_table(environment: str) -> None:
    ingress = find(environment, "Ingress", "ingress-srv")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == (DEV_HOST if environment == "k8s" else PROD_HOST)
    paths = rule["http"]["paths"]
    assert all(p["pathType"] == "Prefix" for p in paths)
    assert all(p["backend"]["service"]["port"] == {"number": 3000} for p in paths)
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [
        (path, f"{service}-srv") for path, service in routes()
    ]


def test_production_ingress_has_tls_from_cert_manager() -> None:
    ingress = find("k8s-prod", "Ingress", "ingress-srv")
    issuer = load_yaml(INFRA / "cert-manager" / "cluster-issuer.yaml")
    assert issuer["kind"] == "ClusterIssuer"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == issuer["metadata"]["name"]
    assert ingress["spec"]["tls"] == [{"hosts": [PROD_HOST], "secretName": "ticketing-tls"}]
    assert "tls" not in find("k8s", "Ingress", "ingress-srv")["spec"]


# --- errors the ingress answers itself -----------------------------------------------------

CUSTOM_ERRORS = ",".join(map(str, ERROR_CODES))
"""The errors `make dev`'s nginx answers in the error shape; Kubernetes must send the same."""


def error_backend(environment: str) -> Doc:
    return find(environment, "Deployment", "ingress-errors-depl")


def error_backend_config(environment: str) -> dict[str, str]:
    """The files of the error backend's /etc/nginx/conf.d, as deployed."""
    [volume] = [
        v
        for v in error_backend(environment)["spec"]["template"]["spec"]["volumes"]
        if "configMap" in v
    ]
    config_map = find(environment, "ConfigMap", volume["configMap"]["name"])
    data: dict[str, str] = config_map["data"]
    return data


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_ingress_sends_the_errors_it_produces_to_the_error_backend(environment: str) -> None:
    annotations = find(environment, "Ingress", "ingress-srv")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert annotations[f"{prefix}custom-http-errors"] == CUSTOM_ERRORS
    # Only what nginx produces itself: the services' own 400s, 404s and 503s pass untouched.
    assert annotations[f"{prefix}disable-proxy-intercept-errors"] == "true"
    # The same limit as `make dev` (and as the 413 message says).
    assert annotations[f"{prefix}proxy-body-size"] == "1m"
    assert "client_max_body_size 1m;" in TEMPLATE_FILE.read_text()

    backend = services_by_name(environment)[annotations[f"{prefix}default-backend"]]
    labels = error_backend(environment)["spec"]["template"]["metadata"]["labels"]
    assert backend["spec"]["selector"].items() <= labels.items()
    [port] = backend["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (80, "http")


def test_the_controller_sends_what_it_refuses_before_routing_to_the_same_backend() -> None:
    """A malformed request or TRACE is refused before ingress-nginx picks an Ingress path:
    only the controller's own settings (its Helm values) reach those."""
    values = load_yaml(INFRA / "ingress-nginx-values.yaml")["controller"]
    assert values["config"]["custom-http-errors"] == CUSTOM_ERRORS
    assert values["config"]["disable-proxy-intercept-errors"] == "true"
    backend = find("k8s", "Ingress", "ingress-srv")["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/default-backend"
    ]
    assert values["extraArgs"]["default-backend-service"] == f"{NAMESPACE}/{backend}"
    assert "ingress-nginx-values.yaml" in (INFRA / "README.md").read_text()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_error_backend_is_a_small_non_root_nginx_with_the_shared_wording(
    environment: str,
) -> None:
    deployment = error_backend(environment)
    pod = deployment["spec"]["template"]["spec"]
    main = container(deployment)
    assert re.fullmatch(r"nginxinc/nginx-unprivileged:\d+\.\d+(\.\d+)?-alpine", main["image"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    for probe in ("readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= main["resources"][kind].keys(), kind
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    assert mounts["/etc/nginx/conf.d"]["readOnly"] is True
    assert "/tmp" in mounts
    assert deployment["spec"]["replicas"] == (2 if environment == "k8s-prod" else 1)

    config = error_backend_config(environment)
    assert set(config) == {"default.conf", "errors.conf"}
    # The wording `make dev`'s nginx answers with, as it is.
    assert config["errors.conf"] == INGRESS_ERRORS_FILE.read_text()


@pytest.fixture(scope="module")
def error_backend_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The error backend's configuration, as deployed, run by this machine's nginx (the
    image's nginx.conf includes conf.d/*.conf in its http block). (answers URL, probe URL)"""
    prefix = tmp_path_factory.mktemp("error-backend")
    port, health_port = free_port(), free_port()
    conf_d = prefix / "conf.d"
    conf_d.mkdir()
    for name, text in error_backend_config("k8s").items():
        text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
        text = text.replace("listen 8081;", f"listen 127.0.0.1:{health_port};")
        (conf_d / name).write_text(text)
    (prefix / "logs").mkdir()
    (prefix / "nginx.conf").write_text(
        f"pid {prefix}/nginx.pid;\nerror_log stderr warn;\nevents {{}}\n"
        f"http {{ client_body_temp_path {prefix}; include {conf_d}/*.conf; }}\n"
    )
    server = ManagedProcess(
        "error-backend",
        [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        prefix / "nginx.log",
    )
    server.start()
    try:
        wait_for_port(port, process=server.process)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{health_port}/healthz"
    finally:
        server.stop()


@pytest.mark.parametrize("code", ERROR_CODES)
def test_error_backend_answers_each_code_in_the_error_shape_under_the_api(
    error_backend_server: tuple[str, str], code: int
) -> None:
    url, _ = error_backend_server
    # As ingress-nginx sends it: path rewritten to /, the original method and body kept.
    response = httpx.post(
        f"{url}/",
        content=b'{"title": "x"}',
        headers={"X-Code": str(code), "X-Original-URI": "/api/tickets?limit=5"},
    )
    assert response.status_code == (400 if code == 494 else code)
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["errors"]
    assert set(error) == {"message"}
    assert error["message"]


def test_error_backend_answers_pages_outside_the_api_and_no_endpoints_as_503(
    error_backend_server: tuple[str, str],
) -> None:
    url, health = error_backend_server
    page = httpx.get(f"{url}/", headers={"X-Code": "502", "X-Original-URI": "/tickets/new"})
    assert page.status_code == 502
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>The service is unavailable." in page.text

    # A service without a ready pod: the request itself, with X-Code 503 and no original URI.
    no_endpoints = httpx.get(f"{url}/api/orders/abc", headers={"X-Code": "503"})
    assert no_endpoints.status_code == 503
    assert json.loads(no_endpoints.text)["errors"][0]["message"].startswith(
        "The service is temporarily unavailable"
    )

    unknown_host = httpx.get(f"{url}/")  # the controller's catch-all: no X-Code
    assert unknown_host.status_code == 404
    assert httpx.get(health).status_code == 200


# --- production ----------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_production_runs_published_images_and_replicas(service: str) -> None:
    """Production's images are the published ones, each set to a digest when deployed
    (infra/deploy.sh); the tag in the overlay is a placeholder never applied."""
    deployment = find("k8s-prod", "Deployment", f"{service}-depl")
    published = f"docker.io/ticketing/{service}"
    assert (
        f'image="{published.replace(service, "$SERVICE")}"'
        in (WORKFLOWS / "deploy.yml").read_text()
    )
    assert container(deployment)["image"] == f"{published}:set-at-deploy"
    assert deployment["spec"]["replicas"] == 2
    assert find("k8s", "Deployment", f"{service}-depl")["spec"]["replicas"] == 1
    assert container(find("k8s", "Deployment", f"{service}-depl"))["image"] == (
        f"ticketing/{service}"
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_survives_disruptions_spread_over_nodes(
    environment: str, service: str
) -> None:
    """A PodDisruptionBudget, replicas spread over nodes and zones, and a startup probe."""
    deployment = find(environment, "Deployment", f"{service}-depl")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = find(environment, "PodDisruptionBudget", service)
    assert budget["apiVersion"] == "policy/v1"
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    for constraint in spread:
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    main = container(deployment)
    assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    probe = main["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 60


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_production_autoscales_every_http_service_on_cpu_it_requests(service: str) -> None:
    autoscaler = find("k8s-prod", "HorizontalPodAutoscaler", service)
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    spec = autoscaler["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{service}-depl",
    }
    deployment = find("k8s-prod", "Deployment", f"{service}-depl")
    assert spec["minReplicas"] == deployment["spec"]["replicas"] >= 2
    assert spec["maxReplicas"] > spec["minReplicas"]
    [metric] = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 50 <= metric["resource"]["target"]["averageUtilization"] <= 90
    requests = container(deployment)["resources"]["requests"]
    assert size_in_millicpu(requests["cpu"]) >= 100  # a percentage of this means something


def size_in_millicpu(cpu: str) -> int:
    return int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)


def test_only_http_services_are_autoscaled() -> None:
    scaled = {
        d["metadata"]["name"]
        for d in documents("k8s-prod")
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    assert scaled == set(HTTP_SERVICES)
    assert not [d for d in documents("k8s") if d["kind"] == "HorizontalPodAutoscaler"]


@pytest.mark.parametrize("service", DATABASE_SERVICES)
def test_production_uses_the_managed_mongodb_replica_set(service: str) -> None:
    """No in-cluster database in production: MONGO_URI (the managed replica set's, with the
    service's own credentials) comes from a Secret per service."""
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents("k8s-prod")}
    assert ("StatefulSet", f"{service}-mongo") not in kinds
    assert ("Service", f"{service}-mongo-srv") not in kinds
    env = env_of(find("k8s-prod", "Deployment", f"{service}-depl"))
    assert env["MONGO_URI"] == {
        "name": "MONGO_URI",
        "valueFrom": {"secretKeyRef": {"name": f"{service}-mongo", "key": "MONGO_URI"}},
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_ingress_retries_another_pod(environment: str) -> None:
    annotations = find(environment, "Ingress", "ingress-srv")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert annotations[f"{prefix}proxy-next-upstream"] == "error timeout"
    assert int(annotations[f"{prefix}proxy-next-upstream-tries"]) >= 2


def test_production_client_calls_the_api_over_https() -> None:
    env = env_of(find("k8s-prod", "Deployment", "client-depl"))
    assert env["API_BASE_URL"]["value"] == f"https://{PROD_HOST}"


# --- least privilege in the cluster ---------------------------------------------------------


def workloads(environment: str) -> list[Doc]:
    return [d for d in documents(environment) if d["kind"] in ("Deployment", "StatefulSet")]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_everything_is_in_the_ticketing_namespace_which_enforces_restricted_pods(
    environment: str,
) -> None:
    namespace = find(environment, "Namespace", NAMESPACE)
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in documents(environment):
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_pod_runs_non_root_without_privileges_on_a_read_only_root(
    environment: str,
) -> None:
    """The stateful ones too: a uid, no capabilities, seccomp, no service-account token, a
    read-only root filesystem (what a pod writes goes to a volume)."""
    # The six services, the error backend, NATS, Redis, and the four MongoDBs in ticketing.dev.
    assert len(workloads(environment)) == 9 + (4 if environment == "k8s" else 0)
    for workload in workloads(environment):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] > 0, name
        assert context["runAsGroup"] > 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for main in pod["containers"]:
            own = main["securityContext"]
            assert own["allowPrivilegeEscalation"] is False, name
            assert own["readOnlyRootFilesystem"] is True, name
            assert own["capabilities"] == {"drop": ["ALL"]}, name
            assert "privileged" not in own, name
            volumes = {v["name"] for v in pod.get("volumes", [])} | {
                c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])
            }
            assert {m["name"] for m in main.get("volumeMounts", [])} <= volumes, name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_credential_is_written_in_the_manifests(environment: str) -> None:
    """Passwords and keys come from Secrets; none is created by the manifests."""
    assert not [d for d in documents(environment) if d["kind"] == "Secret"]
    for workload in workloads(environment):
        for name, entry in env_of(workload).items():
            if any(word in name for word in ("PASSWORD", "KEY", "AUTH", "SECRET")):
                assert "secretKeyRef" in entry.get("valueFrom", {}), (
                    workload["metadata"]["name"],
                    name,
                )
            value = entry.get("value", "")
            assert not re.search(r"://[^/@$]*:[^/@$(]+@", value), f"a literal password: {value}"


# --- network policies: an evaluator of the rendered policies, and the flows it must allow ----


Endpoint = dict[str, Any]


def pod_endpoint(environment: str, app: str) -> Endpoint:
    workload = next(
        d
        for d in workloads(environment)
        if d["spec"]["template"]["metadata"]["labels"].get("app") == app
    )
    ports = {
        port["name"]: port["containerPort"]
        for main in workload["spec"]["template"]["spec"]["containers"]
        for port in main.get("ports", [])
    }
    labels = workload["spec"]["template"]["metadata"]["labels"]
    return {"namespace": NAMESPACE, "labels": labels, "ports": ports}


INGRESS_NGINX: Endpoint = {
    "namespace": "ingress-nginx",
    "labels": {"app.kubernetes.io/name": "ingress-nginx"},
    "ports": {"http": 80, "https": 443},
}
PROMETHEUS: Endpoint = {
    "namespace": "monitoring",
    "labels": {"app.kubernetes.io/name": "prometheus"},
    "ports": {},
}
KUBE_DNS: Endpoint = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": {}}
ADMIN_POD: Endpoint = {"namespace": NAMESPACE, "labels": {"app": "ticketing-admin"}, "ports": {}}
OTHER_NAMESPACE_POD: Endpoint = {"namespace": "default", "labels": {"app": "x"}, "ports": {}}


def address(ip: str) -> Endpoint:
    return {"ip": ip, "ports": {}}


def selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def peer_matches(peer: Doc, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if "ip" not in other:
            return False
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(other["ip"])
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if "ip" in other:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": other["namespace"]}
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif other["namespace"] != NAMESPACE:
        return False
    return selects(peer.get("podSelector"), other["labels"])


def port_matches(rule: Doc, destination: Endpoint, port: int, protocol: str) -> bool:
    if "ports" not in rule:
        return True
    for entry in rule["ports"]:
        wanted = entry.get("port")
        if isinstance(wanted, str):
            wanted = destination["ports"].get(wanted)
        if entry.get("protocol", "TCP") == protocol and wanted in (None, port):
            return True
    return False


def allowed(
    environment: str, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """Whether the rendered NetworkPolicies let `source` open `port` on `destination` (only
    pods of our namespace are governed by them; the others are taken as unrestricted)."""
    policies = [d for d in documents(environment) if d["kind"] == "NetworkPolicy"]

    def side(pod: Endpoint, kind: str, direction: str, other: Endpoint, target: Endpoint) -> bool:
        if pod.get("namespace") != NAMESPACE:
            return True
        applying = [
            p
            for p in policies
            if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod["labels"])
        ]
        if not applying:
            return True
        return any(
            any(peer_matches(peer, other) for peer in rule.get(direction, []))
            and port_matches(rule, target, port, protocol)
            for policy in applying
            for rule in policy["spec"].get(kind.lower(), [])
        )

    return side(source, "Egress", "to", destination, destination) and side(
        destination, "Ingress", "from", source, destination
    )


STRIPE = address("54.187.174.169")
CLUSTER_PRIVATE = address("10.244.1.7")
MANAGED_MONGODB = address("203.0.113.10")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_network_policies_deny_by_default(environment: str) -> None:
    deny = find(environment, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_network_policies_allow_the_flows_the_platform_has(environment: str) -> None:
    pod = functools.partial(pod_endpoint, environment)
    flows: list[tuple[Endpoint, Endpoint, int, str]] = []
    for service in HTTP_SERVICES:
        flows.append((INGRESS_NGINX, pod(service), 3000, "TCP"))
    flows.append((INGRESS_NGINX, pod("ingress-errors"), 8080, "TCP"))
    for service in SERVICES:  # metrics (infra/monitoring)
        flows.append((PROMETHEUS, pod(service), 3000, "TCP"))
    for service in SERVICES:
        flows += [(pod(service), KUBE_DNS, 53, "UDP"), (pod(service), KUBE_DNS, 53, "TCP")]
    for service in ("auth", "tickets", "orders", "payments", "expiration", "client"):
        flows.append((pod(service), pod("nats"), 4222, "TCP"))
    flows.append((ADMIN_POD, pod("nats"), 4222, "TCP"))
    flows.append((pod("nats"), pod("nats"), 6222, "TCP"))
    flows.append((pod("nats"), KUBE_DNS, 53, "UDP"))
    flows.append((pod("expiration"), pod("expiration-redis"), 6379, "TCP"))
    flows.append((pod("payments"), STRIPE, 443, "TCP"))
    flows.append((pod("client"), INGRESS_NGINX, 443, "TCP"))
    for service in DATABASE_SERVICES:
        if environment == "k8s":
            flows.append((pod(service), pod(f"{service}-mongo"), 27017, "TCP"))
        else:
            flows.append((pod(service), MANAGED_MONGODB, 27017, "TCP"))
    if environment == "k8s-prod":
        flows.append((pod("client"), address("198.51.100.20"), 443, "TCP"))  # the public host
    refused = [
        (f.get("labels", f), t.get("labels", t), port)
        for f, t, port, protocol in flows
        if not allowed(environment, f, t, port, protocol)
    ]
    assert refused == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_network_policies_refuse_everything_else(environment: str) -> None:
    pod = functools.partial(pod_endpoint, environment)
    forbidden: list[tuple[Endpoint, Endpoint, int]] = [
        (pod("client"), pod("nats"), 6222),  # the client watches events; routes are the servers'
        (pod("client"), pod("orders"), 3000),  # it reads the API through the ingress only
        (pod("orders"), pod("payments"), 3000),  # services talk through events only
        (pod("payments"), CLUSTER_PRIVATE, 443),  # Stripe is on the internet, not in here
        (pod("tickets"), STRIPE, 443),
        (pod("auth"), pod("expiration-redis"), 6379),
        (pod("expiration"), pod("nats"), 6222),  # routes are for the servers
        (OTHER_NAMESPACE_POD, pod("tickets"), 3000),
        (INGRESS_NGINX, pod("nats"), 4222),
        (PROMETHEUS, pod("nats"), 4222),  # it scrapes the services' ports, nothing else
        (pod("nats"), STRIPE, 443),
        (pod("expiration-redis"), STRIPE, 443),
    ]
    if environment == "k8s":
        forbidden += [
            (pod("tickets"), pod("orders-mongo"), 27017),
            (pod("expiration"), pod("auth-mongo"), 27017),
            (INGRESS_NGINX, pod("tickets-mongo"), 27017),
            (pod("tickets"), MANAGED_MONGODB, 27017),
        ]
    else:
        forbidden.append((pod("expiration"), MANAGED_MONGODB, 27017))
    let_through = [
        (f.get("labels", f), t.get("labels", t), port)
        for f, t, port in forbidden
        if allowed(environment, f, t, port)
    ]
    assert let_through == []


# --- skaffold and the image ------------------------------------------------------------------


def test_skaffold_builds_each_service_in_dev_mode_and_syncs_its_sources() -> None:
    config = load_yaml(REPO / "skaffold.yaml")
    assert config["apiVersion"] == "skaffold/v4beta11"
    assert config["build"]["local"]["push"] is False
    assert config["manifests"]["kustomize"]["paths"] == ["infra/skaffold"]
    assert config["deploy"]["kubectl"]["defaultNamespace"] == NAMESPACE
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    deployed = {container(d)["image"] for d in documents("k8s") if d["kind"] == "Deployment"}
    # Every image of ours is built; the one other Deployment runs a public nginx image.
    assert set(artifacts) == {f"ticketing/{s}" for s in SERVICES}
    assert deployed - set(artifacts) == {container(error_backend("k8s"))["image"]}
    assert "dev" in [name for _, name, _ in dockerfile_stages()]
    for service in SERVICES:
        artifact = artifacts[f"ticketing/{service}"]
        assert artifact["context"] == "."
        assert artifact["docker"] == {
            "dockerfile": "Dockerfile",
            "target": "dev",
            "buildArgs": {"SERVICE": service},
        }
        rules = artifact["sync"]["manual"]
        assert all(rule["dest"] == "." and "strip" not in rule for rule in rules)
        sources = [rule["src"] for rule in rules]
        assert f"{service}/src/**/*.py" in sources
        assert "common/src/**/*.py" in sources
        # Synced files land in the editable install's source folders, nowhere else.
        assert all(src.startswith((f"{service}/src/", "common/src/")) for src in sources)
        assert all(list(REPO.glob(src)) for src in sources if src.endswith(".py"))


def test_skaffolds_environment_is_ticketing_dev_with_a_writable_root_for_file_sync() -> None:
    """infra/skaffold differs from infra/k8s only where skaffold copies changed files."""
    synced = assert_succeeds(tool("kubectl"), "kustomize", str(INFRA / "skaffold"))
    skaffold = [doc for doc in yaml.safe_load_all(synced) if doc]
    expected = json.loads(json.dumps(documents("k8s")))
    for doc in expected:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in {
            f"{s}-depl" for s in SERVICES
        }:
            container(doc)["securityContext"]["readOnlyRootFilesystem"] = False
    assert skaffold == expected


def test_dockerfile_builds_a_small_non_root_image_of_any_service() -> None:
    _, stages = dockerfile()
    names = [name for _, name, _ in stages]
    assert names == ["builder", "dev", "runtime"]
    base, _, final = stages[-1]
    # A slim Python pinned by digest, the same in the builder and the final stage.
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?@sha256:[0-9a-f]{64}", base), base
    assert stages[0][0] == base
    assert stages[1][0] == "builder"

    builder = stages[0][2]
    assert ("ARG", "SERVICE") in builder
    runs = [args for instruction, args in builder if instruction == "RUN"]
    sync = 'uv sync --frozen --no-dev --package "$SERVICE"'
    assert any(f"{sync} --no-install-workspace" in r for r in runs)  # dependencies only
    assert any(f"{sync} --no-editable" in r for r in runs)  # then the code
    copies = [args for instruction, args in builder if instruction == "COPY"]
    lock = next(i for i, c in enumerate(copies) if "uv.lock" in c.split())
    code = copies.index("${SERVICE}/src ${SERVICE}/src")
    assert lock < code, "the lock file layer comes before the source layer"
    for member in workspace_members():
        assert f"{member}/pyproject.toml {member}/" in copies[:code], member
    # Code: the shared library and the service's own package, nothing else (no test support).
    sources = [c.split()[0] for c in copies if "/src" in c]
    assert sources == ["common/src", "${SERVICE}/src"]

    assert ("ARG", "SERVICE") in final
    assert ("CMD", '["/bin/sh", "-c", "exec python -m \\"$SERVICE\\""]') in final
    assert any(i == "ENV" and "SERVICE=${SERVICE}" in args for i, args in final)
    user = [args for instruction, args in final if instruction == "USER"]
    assert user, "the final stage sets a USER"
    uid = user[-1].split(":")[0]
    assert uid.isdigit(), "numeric, so runAsNonRoot can verify it"
    assert uid != "0"
    assert ("COPY", "--from=builder /app/.venv /app/.venv") in final

    dev_cmd = [args for instruction, args in stages[1][2] if instruction == "CMD"][-1]
    assert "exec watchfiles" in dev_cmd
    assert "python -m $SERVICE" in dev_cmd


def uv_command() -> list[str]:
    """uv: the one running these tests (`uv run` says where), or on the PATH, or the module."""
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


@pytest.mark.parametrize("service", SERVICES)
def test_an_image_installs_the_service_and_common_only(service: str) -> None:
    """What `uv sync --no-dev --package <service>` installs: of the workspace's packages,
    the service and common, never test support or another service."""
    exported = assert_succeeds(
        *uv_command(),
        "export",
        "--frozen",
        "--no-dev",
        "--package",
        service,
        "--no-hashes",
    )
    workspace = set(re.findall(r"^-e \./([\w-]+)$", exported, re.MULTILINE))
    assert set(workspace_members()) & workspace == {service, "common"}


def test_what_the_dockerfile_copies_exists_and_is_not_docker_ignored() -> None:
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in ignored)  # keep the matching below sufficient
    for service in SERVICES:
        for _, _, instructions in dockerfile_stages():
            for instruction, args in instructions:
                if instruction != "COPY" or args.startswith("--from"):
                    continue
                *sources, _ = args.replace("${SERVICE}", service).split()
                for source in sources:
                    assert (REPO / source).exists(), f"the Dockerfile copies missing {source}"
                    parts = Path(source).parts
                    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
                    hits = [p for p in ignored if any(fnmatch.fnmatch(x, p) for x in prefixes)]
                    assert not hits, f"{source} is excluded by .dockerignore {hits}"
    for heavy in (".git", "**/.venv", "**/__pycache__", "**/tests", "testsupport/src"):
        assert heavy in ignored, f"{heavy} belongs in .dockerignore"
    assert not list(REPO.glob("*/Dockerfile")), "one Dockerfile, at the root"


# --- GitHub Actions -------------------------------------------------------------------------

ACTION_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def all_workflows() -> dict[str, Doc]:
    return {p.name: workflow(p.name) for p in sorted(WORKFLOWS.glob("*.yml"))}


def test_every_workflow_is_least_privileged_and_pinned() -> None:
    for name, wf in all_workflows().items():
        assert wf["permissions"] == {"contents": "read"}, name
        text = (WORKFLOWS / name).read_text()
        for line in text.splitlines():
            if line.strip().startswith(("uses:", "- uses:")):
                target = line.split("uses:", 1)[1].split("#")[0].strip()
                if target.startswith("$/"):
                    continue  # a reusable workflow of this repository
                assert ACTION_PIN.match(target), f"{name}: {target} is not pinned to a commit"
                assert re.search(r"# v\d", line), f"{name}: say which release the commit is"
        for job in wf["jobs"].values():
            assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}, name
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, name
        assert ":latest" not in text, name


def test_one_reusable_workflow_per_kind_and_a_caller_per_package() -> None:
    workflows = all_workflows()
    reusable = {n for n, wf in workflows.items() if "workflow_call" in wf["on"]}
    assert reusable == {"tests.yml", "deploy.yml"}
    callers = {f"{p}.yml" for p in (*SERVICES, "common", "infra")}
    assert set(workflows) == reusable | callers | {"bench.yml"}


def test_the_bench_workflow_checks_the_figures_on_real_mongodb() -> None:
    """The figures the stand-in limits are measured on MongoDB 7, and a miss fails the job."""
    wf = workflow("bench.yml")
    lines = run_lines(wf)
    mongo = next(line for line in lines if line.startswith("docker run") and "mongo:7" in line)
    assert "--replSet" in mongo.split()
    assert any("rs.initiate(" in line for line in lines)
    assert any("wrk" in line.split() and "nginx" in line.split() for line in lines)
    [measure] = [s for s in wf["jobs"]["bench"]["steps"] if s.get("name", "").startswith("Measure")]
    assert measure["run"].split()[:4] == ["uv", "run", "python", "-m"]
    assert "--check" in measure["run"].split()
    assert {"create", "orders"} <= set(measure["run"].split("--only ")[1].split()[0].split(","))
    assert measure["env"]["MONGO_URI"].startswith("mongodb://localhost:27017/")
    assert set(wf["on"]) == {"push", "workflow_dispatch"}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_deploys_only_after_its_tests_passed_on_that_commit(service: str) -> None:
    wf = workflow(f"{service}.yml")
    paths = wf["on"]["pull_request"]["paths"]
    assert wf["on"]["push"] == {"branches": ["main"], "paths": paths}
    assert {f"{service}/**", "common/**", "Dockerfile", "uv.lock"} <= set(paths)
    assert wf["concurrency"]["cancel-in-progress"] == ("${{ github.event_name == 'pull_request' }}")
    tests, deploy = wf["jobs"]["tests"], wf["jobs"]["deploy"]
    assert tests["uses"] == "$/.github/workflows/tests.yml"
    assert tests["with"]["tests"] == f"{service}/tests"
    assert tests["with"].get("redis", False) is (service == "expiration")
    assert deploy["uses"] == "$/.github/workflows/deploy.yml"
    assert deploy["needs"] == "tests"
    assert deploy["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert deploy["with"] == {"service": service}
    assert set(deploy["secrets"]) == {"DOCKER_USERNAME", "DOCKER_PASSWORD", "KUBECONFIG"}


def test_the_manifests_are_applied_only_after_the_infra_checks_passed() -> None:
    wf = workflow("infra.yml")
    assert "infra/**" in wf["on"]["push"]["paths"]
    assert wf["jobs"]["tests"]["with"] == {"tests": "tests/infra", "servers": False, "nginx": True}
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "tests"
    assert deploy["uses"] == "$/.github/workflows/deploy.yml"
    assert "with" not in deploy  # no service: the manifests only
    assert workflow("common.yml")["jobs"]["tests"]["with"] == {"tests": "common/tests"}


def test_the_tests_workflow_runs_against_real_servers() -> None:
    wf = workflow("tests.yml")
    lines = run_lines(wf)
    # MongoDB 7 as a replica set (what production runs), started by hand for --replSet.
    mongo = next(line for line in lines if line.startswith("docker run") and "mongo:7" in line)
    assert "--replSet" in mongo.split()
    assert "27017:27017" in mongo
    assert any("rs.initiate(" in line for line in lines)
    nats = next(line for line in lines if line.startswith("docker run") and "nats:" in line)
    assert "-js" in nats.split()
    redis = next(line for line in lines if line.startswith("docker run") and "redis:" in line)
    assert "6379:6379" in redis
    assert any(u.startswith("astral-sh/setup-uv@") for u in uses(wf))
    assert "uv sync --all-packages --frozen" in lines
    [test_step] = [s for s in wf["jobs"]["test"]["steps"] if s.get("name") == "Run the tests"]
    assert test_step["run"] == 'uv run pytest "$TESTS"'
    env = test_step["env"]
    assert "mongodb://localhost:27017/ticketing_test?replicaSet=rs0" in env["MONGO_URI"]
    assert "nats://localhost:4222" in env["NATS_URL"]
    assert "redis://localhost:6379/0" in env["REDIS_URL"]


def test_the_deploy_workflow_rolls_out_by_digest_and_rolls_back() -> None:
    wf = workflow("deploy.yml")
    job = wf["jobs"]["deploy"]
    assert job["environment"] == "production"
    assert job["concurrency"] == {
        "group": "deploy-${{ inputs.service || 'manifests' }}",
        "cancel-in-progress": False,
    }
    lines = run_lines(wf)
    build = next(line for line in lines if line.startswith("docker build"))
    assert '--build-arg "SERVICE=$SERVICE"' in build
    assert "--file Dockerfile" in build
    assert build.endswith(" ."), "the build context is the repository root"
    assert 'docker push "$image:$GITHUB_SHA"' in lines
    assert any("RepoDigests" in line for line in lines)
    assert 'infra/deploy.sh image "$SERVICE" "$REFERENCE"' in lines
    assert "infra/deploy.sh manifests" in lines
    script = (INFRA / "deploy.sh").read_text()
    assert "rollout status" in script
    assert "rollout undo" in script


def deploy_render(*assignments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(tool('kubectl')).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(INFRA / "deploy.sh"), "render", *assignments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


DIGEST = "sha256:" + "ab" * 32


def test_production_is_applied_with_every_image_by_digest() -> None:
    result = deploy_render(*(f"{s}=docker.io/ticketing/{s}@{DIGEST}" for s in SERVICES))
    assert result.returncode == 0, result.stderr
    applied = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    for service in SERVICES:
        [deployment] = [d for d in applied if d["metadata"]["name"] == f"{service}-depl"]
        assert container(deployment)["image"] == f"docker.io/ticketing/{service}@{DIGEST}"
    assert "set-at-deploy" not in result.stdout
    assert ":latest" not in result.stdout


def test_production_is_never_applied_with_a_tag_or_a_missing_image() -> None:
    some = [f"{s}=docker.io/ticketing/{s}@{DIGEST}" for s in SERVICES]
    missing = deploy_render(*some[1:])
    assert missing.returncode != 0
    assert "no image given for auth" in missing.stderr
    tagged = deploy_render("auth=docker.io/ticketing/auth:latest", *some[1:])
    assert tagged.returncode != 0
    assert "not an image by digest" in tagged.stderr
