"""The security scanners, offline: zizmor and actionlint on the GitHub workflows, checkov on the
workflows, the Dockerfile and the manifests of both environments as kustomize renders them.
No finding passes unless `infra/accepted-findings.yaml` lists it with its reason, and every
entry there must still match a finding (an accepted finding that was fixed leaves the list).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
ACCEPTED = REPO / "infra" / "accepted-findings.yaml"
ENVIRONMENTS = ("k8s", "k8s-prod", "deployer")
"""What kustomize renders and checkov scans: both environments and the deploy workflow's
service account (infra/deployer)."""


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed; run `make install` (uv sync --all-packages)"
    return found


def run(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@functools.cache
def accepted() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACCEPTED.read_text())
    for entry in data["checkov"]:
        assert entry["reason"].strip(), f"{entry['check']}: a reason is required"
    for entry in data["zizmor"]:
        assert entry["reason"].strip(), f"{entry['rule']}: a reason is required"
    return data


def is_accepted(check: str, resource: str) -> dict[str, Any] | None:
    for entry in accepted()["checkov"]:
        if entry["check"] == check and resource in entry.get("resources", [resource]):
            return dict(entry)
    return None


@functools.cache
def checkov_failures(tmp_dir: Path) -> tuple[tuple[str, str, str], ...]:
    """(check id, resource, file) of every failed check, in one checkov run over everything."""
    files: list[str] = ["Dockerfile"]
    for environment in ENVIRONMENTS:
        rendered = run(tool("kubectl"), "kustomize", str(REPO / "infra" / environment))
        assert rendered.returncode == 0, rendered.stderr
        path = tmp_dir / f"{environment}.yaml"
        path.write_text(rendered.stdout)
        files.append(str(path))
    files += [str(p.relative_to(REPO)) for p in sorted(WORKFLOWS.glob("*.yml"))]
    argv = [tool("checkov"), "--quiet", "--compact", "--output", "json", "--skip-download"]
    argv += ["--framework", "kubernetes", "dockerfile", "github_actions"]
    for file in files:
        argv += ["--file", file]
    result = run(*argv)
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-3000:]}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    scanned = {report["check_type"] for report in reports}
    assert {"kubernetes", "dockerfile", "github_actions"} <= scanned, scanned
    failures: list[tuple[str, str, str]] = []
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        assert report["summary"]["passed"] > 0, report["check_type"]
        failures += [
            (check["check_id"], check["resource"], Path(check["file_path"]).name)
            for check in report["results"]["failed_checks"]
        ]
    return tuple(failures)


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[str, str, str], ...]:
    return checkov_failures(tmp_path_factory.mktemp("checkov"))


def test_checkov_finds_nothing_but_the_accepted_findings(
    failures: tuple[tuple[str, str, str], ...],
) -> None:
    unaccepted = sorted({f for f in failures if is_accepted(f[0], f[1]) is None})
    assert unaccepted == [], "fix these, or accept them with a reason in " + str(
        ACCEPTED.relative_to(REPO)
    )


def test_every_accepted_checkov_finding_still_occurs(
    failures: tuple[tuple[str, str, str], ...],
) -> None:
    for entry in accepted()["checkov"]:
        found = {resource for check, resource, _ in failures if check == entry["check"]}
        assert found, f"{entry['check']} no longer fails: remove it from the accepted findings"
        for resource in entry.get("resources", []):
            assert resource in found, f"{entry['check']} no longer fails for {resource}"


def test_zizmor_finds_nothing_in_the_workflows(tmp_path: Path) -> None:
    """The pedantic persona (every audit, informational findings too), offline."""
    rules = {entry["rule"]: {"disable": True} for entry in accepted()["zizmor"]}
    config = tmp_path / "zizmor.yml"
    config.write_text(yaml.safe_dump({"rules": rules}))
    result = run(
        tool("zizmor"),
        "--offline",
        "--persona",
        "pedantic",
        "--format",
        "json",
        "--config",
        str(config),
        str(WORKFLOWS),
    )
    findings = json.loads(result.stdout or "[]")
    summary = [
        (f["ident"], f["locations"][0]["symbolic"]["key"]["Local"]["given_path"]) for f in findings
    ]
    assert summary == [], result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    result = run(tool("actionlint"), "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr
