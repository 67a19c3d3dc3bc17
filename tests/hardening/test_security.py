"""Security: failed authentications limited per client (a right token never refused), forwarded
headers only from a configured proxy, an empty token refusing writes, no demo token beyond
loopback, CORS only for configured origins, no secrets in the repository, and every credential
marked local-only. (Tokens (401), body limits (413), docs off in
production, console headers and the non-root image are tested in tests/integration and
tests/stack; the hardening report lists them all.)"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faultline.config import Settings
from faultline.main import create_app
from labkit.api import running_api
from labkit.net import ServerUnavailable
from labkit.servers import Redis
from tests.hardening.conftest import redis_url
from tests.support.figures import record

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hardening-token"
ALLOWED = "http://workshop.example:3000"


@pytest.fixture(scope="module")
def control_url(redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The control service behind a proxy at 127.0.0.1 (the test client plays the proxy)."""
    env = {
        "REDIS_URL": redis_url(redis_server),
        "FAULTLINE_ADMIN_TOKEN": TOKEN,
        "CONTROL_FAILED_AUTH_LIMIT": "5/minute",
        "CORS_ALLOW_ORIGINS": ALLOWED,
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    log_path = tmp_path_factory.mktemp("control") / "control.log"
    with running_api(env, log_path, command="control") as url:
        yield url


def client_from(url: str, address: str) -> httpx.Client:
    """A client as the control service sees it behind a proxy it trusts (FORWARDED_ALLOW_IPS)."""
    return httpx.Client(base_url=url, headers={"X-Forwarded-For": address}, timeout=5)


WRONG = {"Authorization": "Bearer guess"}
RIGHT = {"Authorization": f"Bearer {TOKEN}"}


def test_failed_authentications_are_limited_per_client(control_url: str) -> None:
    with (
        client_from(control_url, "10.0.0.1") as guesser,
        client_from(control_url, "10.0.0.2") as other,
    ):
        statuses = [
            guesser.put("/api/faults/latency", json={}, headers=WRONG).status_code for _ in range(5)
        ]
        assert statuses == [401] * 5
        limited = guesser.put("/api/faults/latency", json={}, headers=WRONG)
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert guesser.delete("/api/faults", headers={}).status_code == 429
        assert guesser.get("/api/faults").status_code == 200  # reads are not limited
        # Another client has its own window.
        assert other.put("/api/faults/latency", json={}, headers=WRONG).status_code == 401
        # And the right token is never refused, even from the client that used up its window:
        # nobody can lock a facilitator out of heal.
        assert guesser.put("/api/faults/latency", json={}, headers=RIGHT).status_code == 200
        assert guesser.delete("/api/faults", headers=RIGHT).status_code == 200
    metrics = httpx.get(f"{control_url}/metrics").text
    assert 'control_failed_authentications_total{outcome="rate_limited"} 2.0' in metrics
    record(
        "rate_limit",
        {
            "limit": "5/minute failed authentications per client",
            "sixth_failure": 429,
            "right_token_after_limit": 200,
        },
    )


def test_authenticated_writes_are_not_limited(control_url: str) -> None:
    """Only failures count: a facilitator flipping faults quickly (or a scenario) is never 429."""
    with client_from(control_url, "10.0.0.4") as facilitator:
        statuses = [
            facilitator.put("/api/faults/latency", json={}, headers=RIGHT).status_code
            for _ in range(12)
        ]
        assert statuses == [200] * 12
        assert facilitator.delete("/api/faults", headers=RIGHT).status_code == 200


@pytest.fixture(scope="module")
def direct_control(
    redis_server: Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The control service as compose runs it: published directly, no proxy configured."""
    env = {
        "REDIS_URL": redis_url(redis_server),
        "FAULTLINE_ADMIN_TOKEN": TOKEN,
        "CONTROL_FAILED_AUTH_LIMIT": "5/minute",
        "LOG_JSON": "true",
    }
    log_path = tmp_path_factory.mktemp("direct-control") / "control.log"
    with running_api(env, log_path, command="control") as url:
        yield url, log_path


def test_forwarded_for_is_ignored_unless_a_proxy_is_configured(
    direct_control: tuple[str, Path],
) -> None:
    """Without FORWARDED_ALLOW_IPS nobody picks their own rate-limit bucket or audit actor."""
    url, log_path = direct_control
    statuses = []
    for n in range(6):
        with client_from(url, f"10.9.9.{n}") as spoofer:
            statuses.append(spoofer.put("/api/faults/latency", json={}, headers=WRONG).status_code)
    assert statuses == [401] * 5 + [429]  # one client, whatever the header says
    with client_from(url, "203.0.113.9") as spoofer:
        assert spoofer.put("/api/faults/latency", json={}, headers=RIGHT).status_code == 200
        assert spoofer.delete("/api/faults", headers=RIGHT).status_code == 200
    actors = [
        json.loads(line)["actor"]
        for line in log_path.read_text().splitlines()
        if '"fault.audit"' in line
    ]
    assert actors and set(actors) == {"token@127.0.0.1"}, actors


@pytest.mark.parametrize("configured", ["", "   "])
def test_an_empty_admin_token_refuses_every_write(
    redis_server: Redis, tmp_path: Path, configured: str
) -> None:
    env = {"REDIS_URL": redis_url(redis_server), "FAULTLINE_ADMIN_TOKEN": configured}
    with running_api(env, tmp_path / "control.log", command="control") as url:
        for authorization in ("Bearer", "", "Bearer anything"):
            response = httpx.put(
                f"{url}/api/faults/latency", json={}, headers={"Authorization": authorization}
            )
            assert response.status_code == 503, (authorization, response.text)
            assert response.json()["error"]["code"] == "writes_disabled"
        assert httpx.get(f"{url}/api/faults").json()["faults"][0]["active"] is False
    record("empty_admin_token", {"configured": repr(configured), "writes": "503 writes_disabled"})


@pytest.mark.parametrize(
    ("name", "token", "refused"),
    [
        ("FAULTLINE_ADMIN_TOKEN", "faultline-local-only", True),
        ("FAULTLINE_ADMIN_TOKEN", "short-secret", True),
        ("FAULTLINE_ADMIN_TOKEN", "0123456789abcdef0123", False),
        ("ALERT_WEBHOOK_TOKEN", "alerts-local-only", True),
        ("ALERT_WEBHOOK_TOKEN", "0123456789abcdef4567", False),
    ],
)
def test_the_control_service_refuses_a_demo_token_beyond_loopback(
    redis_server: Redis, tmp_path: Path, name: str, token: str, refused: bool
) -> None:
    env = {
        "REDIS_URL": redis_url(redis_server),
        "FAULTLINE_ADMIN_TOKEN": "0123456789abcdef0123",
        name: token,
        "BIND_ADDRESS": "0.0.0.0",  # noqa: S104  (as compose passes the published address)
    }
    log_path = tmp_path / "control.log"
    if refused:
        with (
            pytest.raises(ServerUnavailable, match="exited on start"),
            running_api(env, log_path, command="control"),
        ):
            pass
        assert f"refusing to serve on 0.0.0.0 with a demo token: set {name}" in log_path.read_text()
    else:
        with running_api(env, log_path, command="control") as url:
            assert httpx.get(f"{url}/api/faults").status_code == 200
    # On loopback the demo token is fine: that is what it is for.
    with running_api(
        {**env, "BIND_ADDRESS": "127.0.0.1"}, tmp_path / "loopback.log", command="control"
    ) as url:
        assert httpx.get(f"{url}/health/live").status_code == 200


def test_cors_answers_only_the_configured_origin(control_url: str) -> None:
    preflight = {
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with client_from(control_url, "10.0.0.3") as http:
        allowed = http.options("/api/faults/latency", headers={**preflight, "Origin": ALLOWED})
        other = http.options(
            "/api/faults/latency", headers={**preflight, "Origin": "http://evil.example"}
        )
        simple = http.get("/api/faults", headers={"Origin": "http://evil.example"})
        simple_ok = http.get("/api/faults", headers={"Origin": ALLOWED})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "PUT" in allowed.headers["access-control-allow-methods"]
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in simple.headers
    assert simple_ok.headers["access-control-allow-origin"] == ALLOWED


async def test_no_cors_at_all_by_default() -> None:
    """The API with default settings: a preflight from any origin gets no CORS headers (answered
    by the app itself, so the browser refuses the call). No lifespan: nothing here needs it."""
    app = create_app(Settings(environment="test", otel_sdk_disabled=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
        response = await http.options(
            "/api/v1/orders",
            headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
        )
    assert "access-control-allow-origin" not in response.headers


# What a leaked credential looks like; none may appear in a tracked file.
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |DSA |PGP )?PRIVATE KEY"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "URL with password": re.compile(
        r"[a-z]+://[^:/\s${}]+:(?!\$\{)[^@/\s]{6,}@(?!postgres:|127\.)"
    ),
}


def tracked_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def test_no_secret_in_the_repository() -> None:
    findings = []
    files = tracked_files()
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for kind, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                findings.append(f"{path.relative_to(ROOT)}: {kind}: {match.group(0)[:24]}...")
    assert not findings, "\n".join(findings)
    record("secrets_scan", {"files_scanned": len(files), "findings": len(findings)})


def test_every_credential_in_env_is_marked_local_only() -> None:
    """.env is committed on purpose (the stack must start first time); so its credentials must
    be demo values that say so. Compose only ever refers to them as ${VARIABLES}."""
    credentials = {}
    for line in (ROOT / ".env").read_text().splitlines():
        name, _, value = line.partition("=")
        if re.search(r"PASSWORD|TOKEN|SECRET|_KEY$", name) and not line.startswith("#"):
            credentials[name] = value
    assert credentials, "expected the demo credentials in .env"
    assert all("local-only" in value for value in credentials.values()), credentials
    compose = (ROOT / "compose.yaml").read_text()
    for name, value in credentials.items():
        assert value not in compose, f"{name}'s value is repeated in compose.yaml"
