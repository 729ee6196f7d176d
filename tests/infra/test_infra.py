"""Offline checks of everything that deploys the platform: the Kubernetes manifests (both
kustomize environments), skaffold.yaml, the GitHub workflows, the Dockerfiles and the routing
table. Nothing here needs a cluster or Docker: the manifests are rendered with `kubectl
kustomize` and checked against the Kubernetes API schemas, the rest against their own schemas
and linters, all installed by the workspace's dev group.
"""

from __future__ import annotations

import fnmatch
import functools
import json
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

from common.settings import required_variables, variables
from devstack.ingress import ERROR_CODES, INGRESS_ERRORS_FILE, TEMPLATE_FILE, nginx_binary
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
NATS_URL = ",".join(f"nats://{node}.nats-srv:4222" for node in NATS_NODES)
SECRET_ENV = {
    "JWT_KEY": "jwt-secret",
    "STRIPE_KEY": "stripe-secret",
    "STRIPE_PUBLISHABLE_KEY": "stripe-secret",
}

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


@functools.cache
def dockerfile_stages(service: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(base image, stage name, [(instruction, arguments)]) per stage of `<service>/Dockerfile`."""
    text = (REPO / service / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)  # join continuation lines
    stages: list[tuple[str, str, list[tuple[str, str]]]] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            image, _, name = arguments.partition(" AS ")
            stages.append((image.strip(), name.strip(), []))
        else:
            assert stages, f"{service}/Dockerfile: {instruction} before FROM"
            stages[-1][2].append((instruction, " ".join(arguments.split())))
    return stages


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


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_passes_hadolint(service: str) -> None:
    assert_succeeds(tool("hadolint"), f"{service}/Dockerfile")


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
    assert env.keys() <= SERVICE_VARIABLES[service], "only what the service reads"
    assert REQUIRED_VARIABLES[service] <= env.keys(), "everything it needs"

    for name, secret in SECRET_ENV.items():
        if name in env:
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (secret, name)
    if "NATS_CLIENT_ID" in env:
        assert env["NATS_CLIENT_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    if "NATS_URL" in env:
        # Every server of the cluster, so that a client moves to another when one goes.
        assert env["NATS_URL"]["value"] == NATS_URL
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
            for address in value.split(","):
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
    assert uri == f"mongodb://{service}-mongo-srv:27017/{service}"


def nats_config(environment: str) -> str:
    return str(find(environment, "ConfigMap", "nats-config")["data"]["nats.conf"])


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
    assert values["extraArgs"]["default-backend-service"] == f"default/{backend}"
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
    deployment = find("k8s-prod", "Deployment", f"{service}-depl")
    published = workflow(f"deploy-{service}.yml")["jobs"]["deploy"]["env"]["IMAGE"]
    assert container(deployment)["image"] == f"{published}:latest"
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


# --- skaffold and the images ---------------------------------------------------------------


def test_skaffold_builds_each_service_in_dev_mode_and_syncs_its_sources() -> None:
    config = load_yaml(REPO / "skaffold.yaml")
    assert config["apiVersion"] == "skaffold/v4beta11"
    assert config["build"]["local"]["push"] is False
    assert config["manifests"]["kustomize"]["paths"] == ["infra/k8s"]
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    deployed = {container(d)["image"] for d in documents("k8s") if d["kind"] == "Deployment"}
    # Every image of ours is built; the one other Deployment runs a public nginx image.
    assert set(artifacts) == {f"ticketing/{s}" for s in SERVICES}
    assert deployed - set(artifacts) == {container(error_backend("k8s"))["image"]}
    for service in SERVICES:
        artifact = artifacts[f"ticketing/{service}"]
        assert artifact["context"] == "."
        assert artifact["docker"] == {"dockerfile": f"{service}/Dockerfile", "target": "dev"}
        assert "dev" in [name for _, name, _ in dockerfile_stages(service)]
        rules = artifact["sync"]["manual"]
        assert all(rule["dest"] == "." and "strip" not in rule for rule in rules)
        sources = [rule["src"] for rule in rules]
        assert f"{service}/src/**/*.py" in sources
        assert "common/src/**/*.py" in sources
        # Synced files land in the editable install's source folders, nowhere else.
        assert all(src.startswith((f"{service}/src/", "common/src/")) for src in sources)
        assert all(list(REPO.glob(src)) for src in sources if src.endswith(".py"))


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_builds_a_small_non_root_image_of_the_service(service: str) -> None:
    stages = dockerfile_stages(service)
    names = [name for _, name, _ in stages]
    assert names[:2] == ["builder", "dev"]
    base, _, final = stages[-1]
    # A slim Python, pinned to a patch version.
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base
    # The virtualenv built in `builder` runs in the final stage: the same Python in both.
    assert all(image in (base, *names) for image, _, _ in stages), "one Python for every stage"

    builder = stages[0][2]
    runs = [args for instruction, args in builder if instruction == "RUN"]
    sync = f"uv sync --frozen --no-dev --package {service}"
    assert any(f"{sync} --no-install-workspace" in r for r in runs)  # dependencies only
    assert any(f"{sync} --no-editable" in r for r in runs)  # then the code
    copies = [args for instruction, args in builder if instruction == "COPY"]
    lock = next(i for i, c in enumerate(copies) if "uv.lock" in c.split())
    code = next(i for i, c in enumerate(copies) if c.startswith(f"{service}/src "))
    assert lock < code, "the lock file layer comes before the source layer"
    for member in workspace_members():
        assert f"{member}/pyproject.toml {member}/" in copies[:code], member

    assert ("CMD", f'["python", "-m", "{service}"]') in final
    user = [args for instruction, args in final if instruction == "USER"]
    assert user, "the final stage sets a USER"
    assert user[-1].isdigit(), "numeric, so runAsNonRoot can verify it"
    assert user[-1] != "0"
    assert ("COPY", "--from=builder /app/.venv /app/.venv") in final

    dev_cmd = [args for instruction, args in stages[1][2] if instruction == "CMD"][-1]
    assert dev_cmd.startswith('["watchfiles"')
    assert f'"python -m {service}"' in dev_cmd


@pytest.mark.parametrize("service", SERVICES)
def test_what_the_dockerfile_copies_exists_and_is_not_docker_ignored(service: str) -> None:
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in ignored)  # keep the matching below sufficient
    for _, _, instructions in dockerfile_stages(service):
        for instruction, args in instructions:
            if instruction != "COPY" or args.startswith("--from"):
                continue
            *sources, _ = args.split()
            for source in sources:
                assert (REPO / source).exists(), f"{service}/Dockerfile copies missing {source}"
                parts = Path(source).parts
                prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
                hits = [p for p in ignored if any(fnmatch.fnmatch(x, p) for x in prefixes)]
                assert not hits, f"{source} is excluded by .dockerignore {hits}"
    for heavy in (".git", "**/.venv", "**/__pycache__", "**/tests"):
        assert heavy in ignored, f"{heavy} belongs in .dockerignore"


# --- GitHub Actions -------------------------------------------------------------------------


@pytest.mark.parametrize("service", [*SERVICES, "common"])
def test_tests_workflow_runs_the_service_tests_against_real_servers(service: str) -> None:
    wf = workflow(f"tests-{service}.yml")
    paths = wf["on"]["pull_request"]["paths"]
    assert "common/**" in paths
    assert service == "common" or f"{service}/**" in paths
    job = wf["jobs"]["test"]
    lines = run_lines(wf)
    # MongoDB 7 as a replica set (what production runs), started by hand for --replSet.
    assert "mongo" not in job.get("services", {})
    mongo = next(line for line in lines if line.startswith("docker run") and "mongo:7" in line)
    assert "--replSet" in mongo.split()
    assert "27017:27017" in mongo
    assert any("rs.initiate(" in line for line in lines)
    nats = next(line for line in lines if line.startswith("docker run") and "nats:" in line)
    assert "-js" in nats.split()
    assert "4222:4222" in nats
    assert any(u.startswith("astral-sh/setup-uv@") for u in uses(wf))
    assert "uv sync --all-packages --frozen" in lines
    [test_step] = [s for s in job["steps"] if s.get("run") == f"uv run pytest {service}/tests"]
    env = test_step["env"]
    assert env["MONGO_URI"].startswith("mongodb://localhost:27017/")
    assert env["MONGO_URI"].endswith("?replicaSet=rs0")
    assert env["NATS_URL"] == "nats://localhost:4222"
    if service == "expiration":
        assert job["services"]["redis"]["image"].startswith("redis:")
        assert env["REDIS_URL"] == "redis://localhost:6379/0"


@pytest.mark.parametrize("service", SERVICES)
def test_deploy_workflow_publishes_the_image_and_restarts_the_deployment(service: str) -> None:
    wf = workflow(f"deploy-{service}.yml")
    push = wf["on"]["push"]
    assert push["branches"] == ["main"]
    assert {f"{service}/**", "common/**"} <= set(push["paths"])
    text = (WORKFLOWS / f"deploy-{service}.yml").read_text()
    for secret in ("DOCKER_USERNAME", "DOCKER_PASSWORD", "DIGITALOCEAN_ACCESS_TOKEN"):
        assert f"secrets.{secret}" in text, secret
    lines = run_lines(wf)
    assert any("docker login" in line for line in lines)
    build = next(line for line in lines if line.startswith("docker build"))
    assert f"--file {service}/Dockerfile" in build
    assert build.endswith(" ."), "the build context is the repository root"
    assert any(line.startswith("docker push") for line in lines)
    assert any(u.startswith("digitalocean/action-doctl@") for u in uses(wf))
    assert "doctl kubernetes cluster kubeconfig save --expiry-seconds 600 ticketing" in lines
    assert f"kubectl rollout restart deployment {service}-depl" in lines


def test_deploy_manifests_workflow_applies_the_production_overlay() -> None:
    wf = workflow("deploy-manifests.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert "infra/k8s/**" in wf["on"]["push"]["paths"]
    assert "kubectl apply -k infra/k8s-prod" in run_lines(wf)


def test_the_dockerfiles_differ_only_in_the_service_name() -> None:
    """One Dockerfile per service, kept as copies of one template: a change made to one image
    and forgotten in the others fails here."""

    def generic(service: str) -> str:
        # Every image copies all the workspace's pyproject.toml files (checked above), which
        # name every service; the rest must be the same but for the service's own name.
        lines = (REPO / service / "Dockerfile").read_text().splitlines()
        kept = [line for line in lines if not re.fullmatch(r"COPY \w+/pyproject\.toml \w+/", line)]
        return "\n".join(kept).replace(service, "<service>")

    template = generic("auth")
    for service in SERVICES:
        assert generic(service) == template, f"{service}/Dockerfile drifted from auth/Dockerfile"
