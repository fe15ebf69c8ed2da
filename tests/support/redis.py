"""A redis-server of a test's own (Debian's, as `coursegraph infra up` runs it), to stop and start at will:
the shared one must keep serving everyone else. Each test stack runs one too: the routers' rate-limit
windows and the catalog signal (a pub/sub channel, which Redis does not scope by database) are a
deployment's own."""

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey as Key
from cryptography.x509.oid import NameOID

from tests.support.servers import free_port


class OwnRedis:
    """`redis-server` on a free loopback port, no persistence: `start()`, `stop()`, and again."""

    def __init__(
        self, directory: Path | None = None, *, tls: tuple[Path, Path] | None = None, password: str = ""
    ) -> None:
        """`tls`: the server's certificate and key (PEM); it then speaks TLS only. `password`: required.
        `directory`: for its log (a new temporary one if None)."""
        self.port = free_port()
        self.directory = directory or Path(tempfile.mkdtemp(prefix="redis-"))
        self._options = ["--port", str(self.port)]
        if tls is not None:
            self._options = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(tls[0]),
                             "--tls-key-file", str(tls[1]), "--tls-auth-clients", "no"]  # fmt: skip
        if password:
            self._options += ["--requirepass", password]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: run `uv run coursegraph infra up redis`"
        self._process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", *self._options, "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:  # listening is enough: a TLS or password check is the test's own business
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def cli(self, *args: str) -> str:
        """One redis-cli command's answer (raw), or "" when nothing answers."""
        cli = shutil.which("redis-cli")
        assert cli, "redis-cli is not installed: run `uv run coursegraph infra up redis`"
        done = subprocess.run(
            [cli, "-h", "127.0.0.1", "-p", str(self.port), "--raw", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else ""


@contextlib.contextmanager
def running_redis(directory: Path | None = None) -> Iterator[OwnRedis]:
    """A started redis-server of the caller's own, stopped on exit."""
    server = OwnRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def private_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA of our own and a certificate it signed for 127.0.0.1: (CA bundle, certificate, key), as PEM."""
    now = datetime.now(UTC)

    def certificate(subject: str, key: Key, issuer: x509.Name | None, signer: Key) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
        )
        if issuer is None:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("CourseGraph test CA", ca_key, None, ca_key)
    server = certificate("127.0.0.1", server_key, ca.subject, ca_key)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths
