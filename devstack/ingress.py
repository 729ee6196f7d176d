"""The local ingress: nginx with the Kubernetes Ingress's routing table.

`infra/routes.yaml` (a list of `{path, service}`) is the one routing table: the Kubernetes
Ingress is built from it and so is the nginx configuration here. A path routes like a
Kubernetes `Prefix` path: `/api/users` matches `/api/users` and `/api/users/...`, not
`/api/usersx`; `/` matches everything no other path does.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUTES_FILE = REPO_ROOT / "infra" / "routes.yaml"
TEMPLATE_FILE = Path(__file__).resolve().parent / "nginx.conf.template"
INGRESS_ERRORS_FILE = REPO_ROOT / "infra" / "k8s" / "ingress-errors" / "errors.conf"
"""How the ingress words its own errors; the Kubernetes ingress's error backend uses it too."""

ERROR_CODES = (400, 405, 408, 413, 414, 494, 500, 502, 503, 504)
"""The errors nginx itself produces that are answered in the error shape under `/api/` (494,
request headers too large, is sent as 400). The same list is the Kubernetes Ingress's
`custom-http-errors` (checked by tests/infra)."""


@dataclass(frozen=True)
class Route:
    path: str
    service: str


def load_routes(path: Path = ROUTES_FILE) -> list[Route]:
    raw = yaml.safe_load(path.read_text())
    if isinstance(raw, dict):
        raw = raw.get("routes")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: expected a list of {{path, service}}")
    routes = []
    for entry in raw:
        if not isinstance(entry, dict) or not {"path", "service"} <= entry.keys():
            raise ValueError(f"{path}: every route needs a path and a service: {entry!r}")
        route_path = str(entry["path"])
        if not route_path.startswith("/"):
            raise ValueError(f"{path}: a path starts with '/': {route_path!r}")
        routes.append(Route(route_path.rstrip("/") or "/", str(entry["service"])))
    return routes


def location_blocks(routes: list[Route]) -> str:
    """nginx `location` blocks with Kubernetes `Prefix` matching (longest path wins)."""
    lines = []
    for route in routes:
        target = f"proxy_pass http://{route.service};"
        if route.path == "/":
            lines.append(f"        location / {{ {target} }}")
        else:
            lines.append(f"        location = {route.path} {{ {target} }}")
            lines.append(f"        location {route.path}/ {{ {target} }}")
    return "\n".join(lines)


def upstream_blocks(ports: dict[str, list[int]]) -> str:
    """One upstream per service, with one server per process of it. A server that fails is
    left alone for a few seconds (nginx's passive health check), its requests retried on
    another (`proxy_next_upstream` in the template)."""
    blocks = []
    for service, service_ports in ports.items():
        servers = " ".join(
            f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in service_ports
        )
        blocks.append(f"    upstream {service} {{ {servers} keepalive 8; }}")
    return "\n".join(blocks)


def render(template: str, **values: str) -> str:
    """Replace each `{{name}}` in `template` (nginx's own `$vars` and braces stay as they are)."""

    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"\{\{(\w+)\}\}", value, template)


def nginx_config(
    prefix: Path, listen_port: int, service_ports: dict[str, list[int]], routes: list[Route]
) -> str:
    missing = sorted({r.service for r in routes} - service_ports.keys())
    if missing:
        raise ValueError(f"routes name services that are not running: {', '.join(missing)}")
    used = {r.service: service_ports[r.service] for r in routes}
    return render(
        TEMPLATE_FILE.read_text(),
        prefix=str(prefix),
        listen=f"127.0.0.1:{listen_port}",
        upstreams=upstream_blocks(used),
        locations=location_blocks(routes),
        ingress_errors=str(INGRESS_ERRORS_FILE),
        error_codes=" ".join(map(str, ERROR_CODES)),
    )


def nginx_binary() -> str:
    """nginx from PATH, or where Debian puts it (`/usr/sbin` is not on every user's PATH)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise RuntimeError("nginx is not installed; run `make install`")
    return found


def write_nginx_config(
    prefix: Path, listen_port: int, service_ports: dict[str, list[int]], routes: list[Route]
) -> list[str]:
    """Write the configuration under `prefix`; return the command that runs nginx with it."""
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / temp).mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)  # nginx opens its default error log before ours
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, listen_port, service_ports, routes))
    return [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]
