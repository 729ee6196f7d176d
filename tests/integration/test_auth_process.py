"""`python -m auth` as a process, configured only by the contract's variables."""

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from testsupport.servers import ServiceProcess

pytestmark = pytest.mark.integration


def test_auth_serves_the_session_journey_as_a_process(
    mongo_server_url: str, nats_url: str, tmp_path: Path
) -> None:
    auth = ServiceProcess(
        "auth",
        tmp_path,
        {
            "MONGO_URI": f"{mongo_server_url}/auth_process",
            "NATS_URL": nats_url,
            "JWT_KEY": "k",
            "COOKIE_SECURE": "false",
        },
    )
    auth.start()
    try:
        with httpx.Client(base_url=auth.base_url) as client:
            credentials = {"email": "process@test.com", "password": "password"}
            signup = client.post("/api/users/signup", json=credentials)
            assert signup.status_code == 201, signup.text
            me = client.get("/api/users/currentuser").json()["currentUser"]
            assert me["email"] == "process@test.com"
            assert client.post("/api/users/signout").status_code == 200
            assert client.get("/api/users/currentuser").json() == {"currentUser": None}
            assert client.post("/api/users/signin", json=credentials).status_code == 200
    finally:
        auth.stop()
    assert not auth.running


def test_a_missing_variable_stops_start_up_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "auth"],
        env={
            "PATH": "/usr/bin:/bin",
            "MONGO_URI": "mongodb://127.0.0.1:1/x",
            "NATS_URL": "nats://x",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "Missing required environment variable: JWT_KEY"
