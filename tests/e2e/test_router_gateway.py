"""The router (GraphQL Hive Gateway, router/gateway.config.ts) end to end.

Starts, on free ports, a throwaway Federation 2.9 subgraph (`_router_fixture_subgraph.py`,
which also serves the JWKS), composes a temporary supergraph with router/compose.mjs and runs
the real gateway against it twice: once with the `dev` profile and once with `production`.
Everything goes through HTTP and WebSocket, as a client would.

Needs Node 20+ and `npm ci --prefix router`; without them the tests fail (they never skip).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from coursegraph.codes import UNAVAILABLE_RETRY_AFTER_SECONDS, ErrorCode

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ROUTER_DIR = ROOT / "router"
COMPOSE = ROUTER_DIR / "compose.mjs"
GATEWAY_CONFIG = ROUTER_DIR / "gateway.config.ts"
GATEWAY_BIN = ROUTER_DIR / "node_modules" / "@graphql-hive" / "gateway" / "dist" / "bin.js"
FIXTURE_SUBGRAPH = Path(__file__).with_name("_router_fixture_subgraph.py")

ISSUER = "coursegraph-test-issuer"
AUDIENCE = "coursegraph-test-api"
MAX_DEPTH = 12
PRODUCTION_RATE_LIMIT = 5
DEV_MAX_BODY_BYTES = 64 * 1024  # small, so the test sends little
ALLOWED_ORIGIN = "http://app.coursegraph.test"
STARTUP_TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------------
# Keys and tokens
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        data.update(kid=self.kid, use="sig", alg="RS256")
        return data


def _new_key(kid: str) -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@dataclass(frozen=True)
class Keys:
    current: SigningKey
    previous: SigningKey  # also published: the JWKS holds two keys, as during a rotation
    stranger: SigningKey  # never published


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "role": "learner",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


def _sign(key: SigningKey, kid: str | None = None, **claims: Any) -> str:
    return jwt.encode(_claims(**claims), key.private_key, algorithm="RS256", headers={"kid": kid or key.kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_token(header: dict[str, Any], claims: dict[str, Any]) -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}"


def _alg_none_token(keys: Keys) -> str:
    return _unsigned_token({"alg": "none", "typ": "JWT", "kid": keys.current.kid}, _claims()) + "."


def _hs256_with_public_key_token(keys: Keys) -> str:
    """The classic key-confusion attack: HMAC-sign with the published RSA public key."""
    signing_input = _unsigned_token({"alg": "HS256", "typ": "JWT", "kid": keys.current.kid}, _claims())
    mac = hmac.new(keys.current.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    base_url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _start(name: str, cmd: list[str], log_path: Path, base_url: str, **kwargs: Any) -> Service:
    log_file = log_path.open("wb")
    try:
        process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, **kwargs)
    finally:
        log_file.close()
    return Service(name, process, log_path, base_url)


def _wait_until_ready(service: Service, path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            service.stop()
            pytest.fail(
                f"{service.name} exited with {service.process.returncode} during startup:\n"
                f"{_tail(service.log_path)}"
            )
        try:
            response = httpx.get(service.base_url + path, timeout=2)
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            last_error = repr(error)
        time.sleep(0.2)
    service.stop()
    pytest.fail(
        f"{service.name} not ready after {STARTUP_TIMEOUT}s ({last_error}):\n{_tail(service.log_path)}"
    )


def _require_node_toolchain() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the router needs Node 20+ (then `npm ci --prefix router`)")
    if not GATEWAY_BIN.exists():
        pytest.fail(
            f"{GATEWAY_BIN.relative_to(ROOT)} is missing: run `npm ci --prefix router` "
            "(the router's node_modules are not installed)"
        )
    return node


def _run_compose(node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, str(COMPOSE), *args], capture_output=True, text=True, timeout=60, check=False
    )


@dataclass(frozen=True)
class RouterStack:
    keys: Keys
    subgraph: Service
    dev: Service
    production: Service
    supergraph_path: Path
    dev_routing_url: str
    # In front of nothing: its subgraph and JWKS addresses have no server (down, or still starting).
    stranded: Service


def _gateway_env(overrides: dict[str, str]) -> dict[str, str]:
    # The gateway CLI reads PORT, HOST, CONFIG_PATH, FORK...; none may leak in from the caller.
    dropped = {"PORT", "HOST", "CONFIG_PATH", "FORK", "POLLING", "NODE_ENV", "LOG_LEVEL", "DEBUG"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("COURSEGRAPH_")
    }
    env["LOG_JSON"] = "1"  # also the gateway's own first lines, before the config is loaded
    env.update(overrides)
    return env


@pytest.fixture(scope="module")
def router_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterStack]:
    node = _require_node_toolchain()
    work = tmp_path_factory.mktemp("router-e2e")
    keys = Keys(_new_key("key-current"), _new_key("key-previous"), _new_key("key-stranger"))
    jwks_file = work / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [keys.current.jwk(), keys.previous.jwk()]}))

    services: list[Service] = []
    try:
        # The subgraph and its SDL.
        sdl = subprocess.run(
            [sys.executable, str(FIXTURE_SUBGRAPH), "--print-sdl"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        (work / "fixture.graphql").write_text(sdl)
        subgraph_port = _free_port()
        subgraph = _start(
            "fixture subgraph",
            [
                sys.executable,
                str(FIXTURE_SUBGRAPH),
                "--port",
                str(subgraph_port),
                "--jwks-file",
                str(jwks_file),
            ],
            work / "subgraph.log",
            f"http://127.0.0.1:{subgraph_port}",
        )
        services.append(subgraph)
        _wait_until_ready(subgraph, "/.well-known/jwks.json")

        # Compose with a routing_url where nothing listens: the gateway can only reach the
        # subgraph through the COURSEGRAPH_SUBGRAPH_URL_FIXTURE override.
        dev_routing_url = f"http://127.0.0.1:{_free_port()}/graphql"
        config = work / "supergraph.yaml"
        config.write_text(
            "federation_version: =2.9.0\n"
            "subgraphs:\n"
            "  fixture:\n"
            f"    routing_url: {dev_routing_url}\n"
            "    schema:\n"
            "      file: ./fixture.graphql\n"
        )
        supergraph = work / "supergraph.graphql"
        composed = _run_compose(node, "--config", str(config), "--out", str(supergraph))
        if composed.returncode != 0:
            pytest.fail(f"compose.mjs failed:\n{composed.stdout}\n{composed.stderr}")

        def gateway(name: str, **overrides: str) -> Service:
            port = _free_port()
            env = _gateway_env(
                {
                    "COURSEGRAPH_ROUTER_PORT": str(port),
                    "COURSEGRAPH_SUPERGRAPH_PATH": str(supergraph),
                    "COURSEGRAPH_SUBGRAPH_URL_FIXTURE": f"{subgraph.base_url}/graphql",
                    "COURSEGRAPH_JWKS_URL": f"{subgraph.base_url}/.well-known/jwks.json",
                    "COURSEGRAPH_JWT_ISSUER": ISSUER,
                    "COURSEGRAPH_JWT_AUDIENCE": AUDIENCE,
                    "COURSEGRAPH_ROUTER_MAX_DEPTH": str(MAX_DEPTH),
                    "COURSEGRAPH_CORS_ORIGINS": f"{ALLOWED_ORIGIN},http://other.coursegraph.test",
                    **overrides,
                }
            )
            service = _start(
                name,
                [node, str(GATEWAY_BIN), "supergraph", "-c", str(GATEWAY_CONFIG)],
                work / f"{name}.log",
                f"http://127.0.0.1:{port}",
                env=env,
                cwd=ROUTER_DIR,
            )
            services.append(service)
            _wait_until_ready(service, "/readiness")
            return service

        dev = gateway(
            "gateway-dev",
            COURSEGRAPH_PROFILE="dev",
            COURSEGRAPH_ROUTER_RATE_LIMIT="10000",
            COURSEGRAPH_ROUTER_MAX_BODY_BYTES=str(DEV_MAX_BODY_BYTES),
        )
        production = gateway(
            "gateway-production",
            COURSEGRAPH_PROFILE="production",
            COURSEGRAPH_ROUTER_RATE_LIMIT=str(PRODUCTION_RATE_LIMIT),
            COURSEGRAPH_ROUTER_RATE_LIMIT_BY="sub",
            COURSEGRAPH_ROUTER_TRUSTED_PROXIES="",  # clients connect directly: no X-Forwarded-For believed
        )
        nothing = f"http://127.0.0.1:{_free_port()}"
        stranded = gateway(
            "gateway-stranded",
            COURSEGRAPH_PROFILE="production",
            COURSEGRAPH_SUBGRAPH_URL_FIXTURE=f"{nothing}/graphql",
            COURSEGRAPH_JWKS_URL=f"{nothing}/.well-known/jwks.json",
        )
        yield RouterStack(keys, subgraph, dev, production, supergraph, dev_routing_url, stranded)
    finally:
        for service in reversed(services):
            service.stop()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

WHOAMI = "{ whoami { authorization requestId traceparent tracestate } }"


async def _post(
    service: Service,
    query: str,
    *,
    token: str | None = None,
    authorization: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = {"content-type": "application/json", **(headers or {})}
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    if authorization is not None:
        all_headers["authorization"] = authorization
    async with httpx.AsyncClient(base_url=service.base_url, timeout=15) as client:
        return await client.post("/graphql", json={"query": query}, headers=all_headers)


def _error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


def _nested_query(depth: int) -> str:
    """A query whose deepest field sits `depth` levels down: level { next { ... { depth } } }."""
    assert depth >= 2
    return "{ " + "level { " + "next { " * (depth - 2) + "depth" + " }" * (depth - 1) + " }"


# ---------------------------------------------------------------------------------------------
# Composition
# ---------------------------------------------------------------------------------------------


def test_compose_writes_the_supergraph_with_the_yaml_routing_url(router_stack: RouterStack) -> None:
    supergraph = router_stack.supergraph_path.read_text()
    assert '@join__graph(name: "fixture", url: "' + router_stack.dev_routing_url + '")' in supergraph
    assert "whoami: Echo!" in supergraph


def test_compose_check_detects_a_stale_supergraph(router_stack: RouterStack, tmp_path: Path) -> None:
    node = _require_node_toolchain()
    config = router_stack.supergraph_path.with_name("supergraph.yaml")
    out = tmp_path / "supergraph.graphql"
    out.write_text(router_stack.supergraph_path.read_text())
    fresh = _run_compose(node, "--check", "--config", str(config), "--out", str(out))
    assert fresh.returncode == 0, fresh.stderr

    out.write_text(router_stack.supergraph_path.read_text() + "\ntype Stale { x: Int }\n")
    stale = _run_compose(node, "--check", "--config", str(config), "--out", str(out))
    assert stale.returncode == 1
    assert "is stale: run make compose" in stale.stderr
    assert "type Stale" in out.read_text(), "--check must not rewrite the file"


def test_compose_fails_on_a_subgraph_linking_a_newer_federation(
    router_stack: RouterStack, tmp_path: Path
) -> None:
    node = _require_node_toolchain()
    sdl = router_stack.supergraph_path.with_name("fixture.graphql").read_text()
    (tmp_path / "new.graphql").write_text(sdl.replace("federation/v2.9", "federation/v2.11"))
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "federation_version: =2.9.0\nsubgraphs:\n  newer:\n"
        "    routing_url: http://127.0.0.1:1/graphql\n    schema:\n      file: ./new.graphql\n"
    )
    result = _run_compose(node, "--config", str(config), "--out", str(tmp_path / "out.graphql"))
    assert result.returncode == 1
    assert "v2.11" in result.stderr
    assert not (tmp_path / "out.graphql").exists()


def test_compose_reports_composition_errors(router_stack: RouterStack, tmp_path: Path) -> None:
    node = _require_node_toolchain()
    sdl_file = router_stack.supergraph_path.with_name("fixture.graphql")
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "federation_version: =2.9.0\nsubgraphs:\n"
        f"  one:\n    routing_url: http://127.0.0.1:1/graphql\n    schema:\n      file: {sdl_file}\n"
        f"  two:\n    routing_url: http://127.0.0.1:2/graphql\n    schema:\n      file: {sdl_file}\n"
    )
    result = _run_compose(node, "--config", str(config), "--out", str(tmp_path / "out.graphql"))
    assert result.returncode == 1
    assert "INVALID_FIELD_SHARING" in result.stderr


# ---------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------


async def test_valid_token_reaches_the_subgraph(router_stack: RouterStack) -> None:
    token = _sign(router_stack.keys.current)
    response = await _post(router_stack.dev, WHOAMI, token=token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body
    assert body["data"]["whoami"]["authorization"] == f"Bearer {token}"


async def test_token_signed_with_the_other_published_key_passes(router_stack: RouterStack) -> None:
    token = _sign(router_stack.keys.previous)
    response = await _post(router_stack.dev, WHOAMI, token=token)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["whoami"]["authorization"] == f"Bearer {token}"


REJECTED_TOKENS: dict[str, Callable[[Any], str]] = {
    "wrong audience": lambda keys: _sign(keys.current, aud="someone-else"),
    "wrong issuer": lambda keys: _sign(keys.current, iss="https://evil.example"),
    "expired": lambda keys: _sign(keys.current, iat=int(time.time()) - 3600, exp=int(time.time()) - 60),
    "not yet valid": lambda keys: _sign(keys.current, nbf=int(time.time()) + 3600),
    "alg none": _alg_none_token,
    "HS256 signed with the public key": _hs256_with_public_key_token,
    "unknown kid": lambda keys: _sign(keys.stranger),
    "no expiry": lambda keys: jwt.encode(
        {k: v for k, v in _claims().items() if k != "exp"},
        keys.current.private_key,
        algorithm="RS256",
        headers={"kid": keys.current.kid},
    ),
    "a service's token": lambda keys: _sign(keys.current, role="service", client_id="courses"),
    "known kid, other key": lambda keys: _sign(keys.stranger, kid=keys.current.kid),
    "tampered claims": lambda keys: ".".join(
        [
            _sign(keys.current).split(".")[0],
            _b64(json.dumps(_claims(role="admin")).encode()),
            _sign(keys.current).split(".")[2],
        ]
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTED_TOKENS))
async def test_invalid_token_is_rejected_with_401(router_stack: RouterStack, case: str) -> None:
    token = REJECTED_TOKENS[case](router_stack.keys)
    response = await _post(router_stack.dev, WHOAMI, token=token)
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body
    assert _error_codes(body) == ["UNAUTHENTICATED"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer a.b.c", "Bearer", "Basic dXNlcjpwYXNz", "bearer x.y.z"],
)
async def test_malformed_authorization_is_rejected_with_401(
    router_stack: RouterStack, authorization: str
) -> None:
    # Hive Gateway's JWT plugin answers 400 for these; the router reports every rejected
    # credential the same way: 401 UNAUTHENTICATED (RFC 6750 invalid_token).
    response = await _post(router_stack.dev, WHOAMI, authorization=authorization)
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body
    assert _error_codes(body) == ["UNAUTHENTICATED"]


async def test_anonymous_request_passes_through(router_stack: RouterStack) -> None:
    response = await _post(router_stack.dev, WHOAMI)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body
    assert body["data"]["whoami"]["authorization"] is None


# ---------------------------------------------------------------------------------------------
# Headers to subgraphs
# ---------------------------------------------------------------------------------------------


async def test_request_id_is_generated_forwarded_and_returned(router_stack: RouterStack) -> None:
    response = await _post(router_stack.dev, WHOAMI)
    request_id = response.headers["x-request-id"]
    assert uuid.UUID(request_id)
    assert response.json()["data"]["whoami"]["requestId"] == request_id


async def test_client_request_id_and_trace_context_reach_the_subgraph(router_stack: RouterStack) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await _post(
        router_stack.dev,
        WHOAMI,
        headers={"x-request-id": "req-e2e-1", "traceparent": traceparent, "tracestate": "cg=1"},
    )
    assert response.headers["x-request-id"] == "req-e2e-1"
    whoami = response.json()["data"]["whoami"]
    assert whoami == {
        "authorization": None,
        "requestId": "req-e2e-1",
        "traceparent": traceparent,
        "tracestate": "cg=1",
    }


# ---------------------------------------------------------------------------------------------
# Subscriptions: gateway -> subgraph over WebSocket, credentials in connectionParams
# ---------------------------------------------------------------------------------------------


async def _sse_events(service: Service, query: str, token: str | None) -> list[dict[str, Any]]:
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    events: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(base_url=service.base_url, timeout=15) as client,
        client.stream("POST", "/graphql", json={"query": query}, headers=headers) as response,
    ):
        assert response.status_code == 200
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
                if event == "complete":
                    break
            elif line.startswith("data: ") and event == "next":
                events.append(json.loads(line.removeprefix("data: ")))
    return events


async def test_sse_subscription_reaches_the_subgraph_websocket_with_credentials(
    router_stack: RouterStack,
) -> None:
    token = _sign(router_stack.keys.current)
    events = await _sse_events(router_stack.dev, "subscription { whoamiStream(count: 2) }", token)
    assert events == [{"data": {"whoamiStream": f"Bearer {token}"}}] * 2


async def test_anonymous_sse_subscription_carries_no_credentials(router_stack: RouterStack) -> None:
    events = await _sse_events(router_stack.dev, "subscription { whoamiStream(count: 1) }", None)
    assert events == [{"data": {"whoamiStream": None}}]


async def _graphql_ws(
    service: Service, connection_params: dict[str, str], operations: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Runs operations over graphql-transport-ws; returns each operation's `next` payloads."""
    url = service.base_url.replace("http://", "ws://") + "/graphql"
    results: dict[str, list[dict[str, Any]]] = {op_id: [] for op_id in operations}
    async with ws_connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": connection_params}))
        assert json.loads(await ws.recv(decode=True))["type"] == "connection_ack"
        for op_id, query in operations.items():
            payload = {"query": query}
            await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
        pending = set(operations)
        while pending:
            message = json.loads(await ws.recv(decode=True))
            if message["type"] == "next":
                results[message["id"]].append(message["payload"])
            elif message["type"] in {"complete", "error"}:
                if message["type"] == "error":
                    results[message["id"]].append({"errors": message["payload"]})
                pending.discard(message["id"])
    return results


async def test_websocket_client_credentials_reach_the_subgraph(router_stack: RouterStack) -> None:
    token = _sign(router_stack.keys.current)
    results = await _graphql_ws(
        router_stack.dev,
        {"Authorization": f"Bearer {token}"},
        {"q": "{ whoami { authorization } }", "s": "subscription { whoamiStream(count: 1) }"},
    )
    assert results["q"] == [{"data": {"whoami": {"authorization": f"Bearer {token}"}}}]
    assert results["s"] == [{"data": {"whoamiStream": f"Bearer {token}"}}]


async def test_websocket_client_with_a_bad_token_is_unauthenticated(router_stack: RouterStack) -> None:
    token = _sign(router_stack.keys.current, aud="someone-else")
    results = await _graphql_ws(
        router_stack.dev, {"Authorization": f"Bearer {token}"}, {"q": "{ whoami { authorization } }"}
    )
    [payload] = results["q"]
    assert "data" not in payload
    assert _error_codes(payload) == ["UNAUTHENTICATED"]
    assert "http" not in payload["errors"][0].get("extensions", {})


# ---------------------------------------------------------------------------------------------
# Operation limits and error codes
# ---------------------------------------------------------------------------------------------


async def test_query_at_the_depth_limit_passes(router_stack: RouterStack) -> None:
    response = await _post(router_stack.dev, _nested_query(MAX_DEPTH))
    body = response.json()
    assert "errors" not in body, body
    level = body["data"]["level"]
    for _ in range(MAX_DEPTH - 2):
        level = level["next"]
    assert level == {"depth": MAX_DEPTH - 1}


async def test_query_deeper_than_the_limit_is_refused(router_stack: RouterStack) -> None:
    response = await _post(router_stack.dev, _nested_query(MAX_DEPTH + 1))
    body = response.json()
    assert "data" not in body
    assert _error_codes(body) == ["BAD_USER_INPUT"]
    assert f"depth limit of {MAX_DEPTH} exceeded" in body["errors"][0]["message"]
    # Refused before any subgraph is called; the status follows GraphQL over HTTP:
    # 200 for application/json, 400 for application/graphql-response+json.
    assert response.status_code == 200
    strict = await _post(
        router_stack.dev,
        _nested_query(MAX_DEPTH + 1),
        headers={"accept": "application/graphql-response+json"},
    )
    assert strict.status_code == 400
    assert _error_codes(strict.json()) == ["BAD_USER_INPUT"]


async def test_too_many_aliases_are_refused(router_stack: RouterStack) -> None:
    query = "{ " + " ".join(f"a{i}: whoami {{ requestId }}" for i in range(31)) + " }"
    body = (await _post(router_stack.dev, query)).json()
    assert "data" not in body
    assert _error_codes(body) == ["BAD_USER_INPUT"]
    assert "Aliases limit" in body["errors"][0]["message"]


async def test_too_many_tokens_are_refused(router_stack: RouterStack) -> None:
    query = "{ " + " ".join(["__typename"] * 2100) + " }"
    body = (await _post(router_stack.dev, query)).json()
    assert "data" not in body
    assert _error_codes(body) == ["BAD_USER_INPUT"]
    assert "Token limit of 2000 exceeded" in body["errors"][0]["message"]


async def test_a_body_over_the_limit_is_refused_before_it_is_read(router_stack: RouterStack) -> None:
    def body_of(size: int) -> bytes:
        # A valid request padded by an unused variable to exactly `size` bytes.
        empty = json.dumps({"query": "{ whoami { requestId } }", "variables": {"pad": ""}}).encode()
        return empty.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(empty)) + b'"')

    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=router_stack.dev.base_url, timeout=15) as client:
        fits = await client.post("/graphql", content=body_of(DEV_MAX_BODY_BYTES), headers=headers)
        too_big = await client.post("/graphql", content=body_of(DEV_MAX_BODY_BYTES + 1), headers=headers)
        far_too_big = await client.post("/graphql", content=body_of(16 * DEV_MAX_BODY_BYTES), headers=headers)

        async def chunks() -> Any:  # no Content-Length: sent chunked
            yield body_of(1000)

        unknown_length = await client.post("/graphql", content=chunks(), headers=headers)

    assert fits.status_code == 200 and fits.json()["data"]["whoami"]["requestId"], fits.text
    assert too_big.status_code == 413 and _error_codes(too_big.json()) == ["BAD_USER_INPUT"], too_big.text
    assert f"exceeds {DEV_MAX_BODY_BYTES} bytes" in too_big.json()["errors"][0]["message"]
    assert far_too_big.status_code == 413, far_too_big.text
    assert unknown_length.status_code == 411 and _error_codes(unknown_length.json()) == ["BAD_USER_INPUT"]


async def test_invalid_queries_carry_bad_user_input(router_stack: RouterStack) -> None:
    for query in ["{ nope }", "{ whoami { "]:
        body = (await _post(router_stack.dev, query)).json()
        assert "data" not in body
        assert _error_codes(body) == ["BAD_USER_INPUT"], body


async def test_subgraph_error_codes_pass_through_and_codeless_errors_are_internal(
    router_stack: RouterStack,
) -> None:
    body = (await _post(router_stack.dev, "{ forbiddenThing brokenThing }")).json()
    assert body["data"] == {"forbiddenThing": None, "brokenThing": None}
    codes = {error["path"][0]: error["extensions"]["code"] for error in body["errors"]}
    assert codes == {"forbiddenThing": "FORBIDDEN", "brokenThing": "INTERNAL"}


async def test_every_declared_code_passes_through_and_no_other(router_stack: RouterStack) -> None:
    """The router keeps each code coursegraph/codes.py declares (read from the generated router/codes.json):
    a code added in Python reaches clients unchanged, and a code Python does not declare never does."""
    for router in (router_stack.dev, router_stack.production):
        for code in [*ErrorCode, "NOT_A_CODE"]:
            # Each as its own user: the production router's rate limit counts per subject.
            token = _sign(router_stack.keys.current, sub=f"coder-{code}")
            body = (await _post(router, f'{{ failing(code: "{code}") }}', token=token)).json()
            expected = code if code in ErrorCode.__members__ else ErrorCode.INTERNAL
            assert body["data"] == {"failing": None} and _error_codes(body) == [expected], (router.name, body)


async def test_a_subgraph_that_does_not_answer_is_unavailable_never_internal(
    router_stack: RouterStack,
) -> None:
    response = await _post(router_stack.stranded, "{ whoami { requestId } }")
    body = response.json()
    assert response.status_code == 200 and body["data"] is None, body
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "retryAfter": UNAVAILABLE_RETRY_AFTER_SECONDS}
    assert "127.0.0.1" not in error["message"], "the subgraph's address stays inside"


async def test_a_jwks_that_cannot_be_fetched_is_unavailable_never_internal(router_stack: RouterStack) -> None:
    response = await _post(router_stack.stranded, WHOAMI, token=_sign(router_stack.keys.current))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    assert _error_codes(response.json()) == ["UNAVAILABLE"]


# ---------------------------------------------------------------------------------------------
# CORS, health, explorer, introspection, rate limits, logs
# ---------------------------------------------------------------------------------------------


async def _preflight(service: Service, origin: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=15) as client:
        return await client.options(
            "/graphql",
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )


async def test_cors_preflight_from_an_allowed_origin(router_stack: RouterStack) -> None:
    response = await _preflight(router_stack.dev, ALLOWED_ORIGIN)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "origin" in response.headers["vary"].lower()

    actual = await _post(router_stack.dev, "{ __typename }", headers={"origin": ALLOWED_ORIGIN})
    assert actual.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_cors_preflight_from_another_origin_gets_no_allow_origin(router_stack: RouterStack) -> None:
    response = await _preflight(router_stack.dev, "https://evil.example")
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers

    actual = await _post(router_stack.dev, "{ __typename }", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in actual.headers


async def test_health_and_readiness(router_stack: RouterStack) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        for service in (router_stack.dev, router_stack.production):
            assert (await client.get(service.base_url + "/healthcheck")).status_code == 200
            assert (await client.get(service.base_url + "/readiness")).status_code == 200


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_and_explorer_in_dev(router_stack: RouterStack) -> None:
    body = (await _post(router_stack.dev, INTROSPECTION)).json()
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    async with httpx.AsyncClient(timeout=15) as client:
        page = await client.get(router_stack.dev.base_url + "/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


async def test_introspection_explorer_and_suggestions_are_off_in_production(
    router_stack: RouterStack,
) -> None:
    # Anonymous requests here count against the production gateway's per-IP bucket (5/min).
    body = (await _post(router_stack.production, INTROSPECTION)).json()
    assert "data" not in body
    assert "introspection has been disabled" in body["errors"][0]["message"]
    assert set(_error_codes(body)) == {"BAD_USER_INPUT"}

    typo = (await _post(router_stack.production, "{ whoam { requestId } }")).json()
    assert "Did you mean" not in typo["errors"][0]["message"]
    assert _error_codes(typo) == ["BAD_USER_INPUT"]

    async with httpx.AsyncClient(timeout=15) as client:
        page = await client.get(
            router_stack.production.base_url + "/graphql", headers={"accept": "text/html"}
        )
    assert not page.headers.get("content-type", "").startswith("text/html")


async def test_rate_limit_per_jwt_subject(router_stack: RouterStack) -> None:
    token = _sign(router_stack.keys.current, sub="rate-limited-user")
    statuses = []
    for _ in range(PRODUCTION_RATE_LIMIT):
        response = await _post(router_stack.production, "{ __typename }", token=token)
        statuses.append(response.status_code)
    assert statuses == [200] * PRODUCTION_RATE_LIMIT

    refused = await _post(router_stack.production, "{ __typename }", token=token)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert "data" not in body
    assert _error_codes(body) == ["RATE_LIMITED"]

    # Another subject has its own budget.
    other = await _post(router_stack.production, "{ __typename }", token=_sign(router_stack.keys.current))
    assert other.status_code == 200


async def test_a_client_cannot_pick_its_rate_limit_bucket(router_stack: RouterStack) -> None:
    """Anonymous requests count by address; with no trusted proxy, X-Forwarded-For changes nothing."""
    statuses = []
    for n in range(PRODUCTION_RATE_LIMIT + 1):
        response = await _post(
            router_stack.production, "{ __typename }", headers={"x-forwarded-for": f"198.51.100.{n}"}
        )
        statuses.append(response.status_code)
    assert 429 in statuses, statuses


async def test_gateway_logs_are_json_lines(router_stack: RouterStack) -> None:
    await _post(router_stack.dev, WHOAMI, headers={"x-request-id": "req-log-check"})
    lines = [line for line in router_stack.dev.log_path.read_text().splitlines() if line.strip()]
    assert lines
    for line in lines:
        record = json.loads(line)
        assert "level" in record
        assert "timestamp" in record
    assert not any("Bearer ey" in line for line in lines), "a token was logged"


def test_every_process_survived_the_run(router_stack: RouterStack) -> None:
    for service in (router_stack.subgraph, router_stack.dev, router_stack.production, router_stack.stranded):
        assert service.process.poll() is None, f"{service.name} died:\n{_tail(service.log_path)}"
