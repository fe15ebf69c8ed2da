"""The backing services, one small class each: ensure_installed, start, is_ready, stop."""

import asyncio
import base64
import contextlib
import glob
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from coursegraph_cli.infra.paths import cache_dir, state_dir
from coursegraph_cli.infra.process import (
    InfraError,
    file_lock,
    read_pid,
    run,
    spawn,
    terminate,
    which,
)

FERRETDB_VERSION = "v1.24.2"
# Our build of it carries the patches below; a new patch gets a new build (and cache directory).
FERRETDB_BUILD = f"{FERRETDB_VERSION}-coursegraph.2"
# FerretDB v1's SQLite backend looks documents up by `_ferretdb_sjson->'$._id'`, while it creates the
# `_id` index on `_ferretdb_sjson->"_id"`: SQLite cannot match the two expressions, so every lookup,
# update and delete by `_id` scans the table (measured: 70 ms for the last of 5,800 enrollments, 1 ms
# for the first). Both expressions read the same value; the patch makes the lookup use the index's.
FERRETDB_ID_COLUMN = (
    "internal/backends/sqlite/metadata/metadata.go",
    "IDColumn = DefaultColumn + \"->'$._id'\"",
    'IDColumn = DefaultColumn + `->"_id"`',
)
# And it answers `{_id: {$in: [...]}}` by decoding every document of the collection: the batches of
# lookups by id that requests make (ADR 0014) went as one `find_one` each. The patch pushes such an `$in`
# down to SQLite as an IN over the `_id` index, in queries and in their explanation (`idInWhere`, in
# patches/ferretdb_id_in.go, added to the backend's package).
FERRETDB_ID_IN = Path(__file__).parent / "patches" / "ferretdb_id_in.go"
_QUERY_BY_ID = (
    "\t\tcase string, types.ObjectID:\n\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)"
)
_EXPLAIN_BY_ID = "\t\tcase string, types.ObjectID:\n\t\t\tfilterPushdown = true"
FERRETDB_ID_IN_CASES = (
    (
        "internal/backends/sqlite/collection.go",
        _QUERY_BY_ID,
        "\t\tcase *types.Document:\n\t\t\twhereClause, args = idInWhere(v)\n" + _QUERY_BY_ID,
    ),
    (
        "internal/backends/sqlite/collection.go",
        _EXPLAIN_BY_ID,
        "\t\tcase *types.Document:\n\t\t\twhereClause, args = idInWhere(v)\n"
        '\t\t\tfilterPushdown = whereClause != ""\n' + _EXPLAIN_BY_ID,
    ),
)
KAFKA_VERSION = "3.9.1"
S3S_FS_VERSION = "0.14.1"
S3S_FS_BUILD = f"{S3S_FS_VERSION}-coursegraph.1"  # bump when the patch below changes
# The two crates built, with their crates.io checksums (the index's `cksum`).
S3S_CRATES = {
    "s3s-fs": "aa2cc3c6802533066591b45ace771fbc30fa33fd393d5909f9a7efd2a75cb15b",
    "s3s": "abe1bd31748cb69848c2cf4028cecdadf5f8299ef3b02a83e21b20e7bda3aba9",
}
# s3s 0.14.1 refuses a multipart POST whose file part happens to end a network read with the first bytes
# of the boundary (`\r`, ...) when the next read is over 64 KiB: it counts that whole read against its
# 64 KiB limit for a partial boundary, so large uploads fail at random ("failed to read file stream",
# BoundaryBufferTooLarge). The limit is meant for the partial boundary alone; the patch checks that.
S3S_BOUNDARY_LIMIT = (
    "src/http/multipart.rs",
    "if buf.len().saturating_add(b.len()) > MAX_BOUNDARY_BUFFER_SIZE {",
    "if buf.len() > MAX_BOUNDARY_BUFFER_SIZE {",
)
SLF4J_VERSION = "1.7.36"  # the slf4j line Kafka 3.9 is built against


def _port(env_key: str, default: int) -> int:
    return int(os.environ.get(env_key, default))


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def apt_install(*packages: str) -> None:
    """Install Debian packages (we are root on these machines); refresh the lists first."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing Debian packages: {' '.join(packages)}", file=sys.stderr)
    run(["apt-get", "update"], env=env)
    run(["apt-get", "install", "-y", "--no-install-recommends", *packages], env=env)


class Service(ABC):
    name: ClassVar[str]
    env_key: ClassVar[str]
    start_timeout: ClassVar[float] = 60.0

    def __init__(self) -> None:
        self.dir = state_dir() / self.name
        self.log_file = self.dir / f"{self.name}.log"
        self.pid_file = self.dir / "pid"

    @property
    @abstractmethod
    def port(self) -> int: ...

    @abstractmethod
    def local_url(self) -> str:
        """The URL of the instance this clone provisions."""

    @property
    def external(self) -> str | None:
        """A URL supplied from outside. The value our own env file gave (e.g. loaded by the
        test conftest into a child `up`) is not external: we still manage that instance."""
        value = os.environ.get(self.env_key)
        return value if value and value != self.local_url() else None

    @property
    def url(self) -> str:
        return self.external or self.local_url()

    def extra_env(self) -> dict[str, str]:
        """Settings besides the URL that clients of our own instance need (credentials)."""
        return {}

    @abstractmethod
    def ensure_installed(self) -> None:
        """Download or build what is missing, into the machine-wide cache."""

    @abstractmethod
    def start(self) -> None:
        """Launch the daemon in the background; `wait_ready` then waits for it."""

    @abstractmethod
    def is_ready(self) -> bool:
        """Ask the service through its real client; never raises."""

    def pid(self) -> int | None:
        """Pid of our running instance, if any."""
        return read_pid(self.pid_file, self.marker)

    @property
    def marker(self) -> str:
        """A string in our daemon's command line, so a reused pid is not mistaken for ours."""
        return str(self.dir)

    def stop(self) -> None:
        if (pid := self.pid()) is not None:
            terminate(pid)
        self.pid_file.unlink(missing_ok=True)


class Postgres(Service):
    name = "postgres"
    env_key = "COURSEGRAPH_DATABASE_URL"

    @property
    def port(self) -> int:
        return _port("COURSEGRAPH_POSTGRES_PORT", 55432)

    def local_url(self) -> str:
        return f"postgresql+asyncpg://coursegraph:coursegraph@127.0.0.1:{self.port}/coursegraph"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def sock_dir(self) -> Path:
        # Unix socket paths are capped at 107 bytes; a deep clone falls back to a short tmp dir.
        sock = self.dir / "run"
        if len(str(sock / f".s.PGSQL.{self.port}")) < 100:
            return sock
        digest = hashlib.sha1(str(self.dir).encode()).hexdigest()[:10]  # noqa: S324
        return Path(tempfile.gettempdir()) / f"coursegraph-pg-{digest}"

    def bin(self, tool: str) -> str | None:
        # Debian keeps the server tools off PATH, in /usr/lib/postgresql/<major>/bin.
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
        for d in dirs:
            if os.access(f"{d}/{tool}", os.X_OK):
                return f"{d}/{tool}"
        return which(tool)

    def tool(self, name: str) -> str:
        if (path := self.bin(name)) is None:
            raise InfraError(f"PostgreSQL tool {name} not found")
        return path

    def as_postgres(self, *argv: str) -> str:
        # The server refuses to run as root: as root, act as the `postgres` user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return run([*prefix, *argv], cwd=Path("/"))

    def ensure_installed(self) -> None:
        if not (self.bin("initdb") and self.bin("pg_ctl")):
            apt_install("postgresql")
        if not (self.bin("initdb") and self.bin("pg_ctl")):
            raise InfraError("PostgreSQL server tools (initdb, pg_ctl) not found after install")

    def pid(self) -> int | None:
        return read_pid(self.data / "postmaster.pid", str(self.data))

    def _own(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            for p in paths:
                shutil.chown(p, "postgres", "postgres")

    def start(self) -> None:
        initdb, pg_ctl = self.tool("initdb"), self.tool("pg_ctl")
        # postgres must be able to traverse to its data dir, whatever root's umask.
        for d in (state_dir().parent, state_dir(), self.dir):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
        self.sock_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        self._own(self.sock_dir, self.log_file)
        if not (self.data / "PG_VERSION").is_file():
            # initdb into a scratch dir and rename, so a failed init never leaves half a cluster.
            scratch = self.dir / "data.init"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            self._own(scratch)
            self.as_postgres(
                initdb, "-D", str(scratch), "-U", "postgres", "-E", "UTF8", "--locale=C",
                "--auth-local=peer", "--auth-host=scram-sha-256", "--no-sync",
            )  # fmt: skip
            scratch.rename(self.data)
        opts = (
            f"-p {self.port} -k {self.sock_dir} -c listen_addresses=127.0.0.1"
            # A throwaway test cluster: durability is not worth the fsyncs.
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self.as_postgres(
            pg_ctl, "start", "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60",
            "-o", opts,
        )  # fmt: skip
        self._provision()

    def _psql(self, sql: str) -> str:
        return self.as_postgres(
            self.tool("psql"), "-h", str(self.sock_dir), "-p", str(self.port), "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-tAc", sql,
        ).strip()  # fmt: skip

    def _provision(self) -> None:
        """Role and database `coursegraph`; safe to repeat."""
        self._psql(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coursegraph') "
            "THEN CREATE ROLE coursegraph LOGIN CREATEDB PASSWORD 'coursegraph'; END IF; END $$"
        )
        if not self._psql("SELECT 1 FROM pg_database WHERE datname = 'coursegraph'"):
            self._psql("CREATE DATABASE coursegraph OWNER coursegraph")

    def is_ready(self) -> bool:
        # Clients are imported where used: every `coursegraph` command loads this module.
        import asyncpg

        async def check() -> bool:
            dsn = self.url.replace("postgresql+asyncpg://", "postgresql://", 1)
            conn = await asyncpg.connect(dsn, timeout=3)
            try:
                return bool(await conn.fetchval("SELECT 1") == 1)
            finally:
                await conn.close()

        try:
            return asyncio.run(check())
        except Exception:
            return False

    def stop(self) -> None:
        pg_ctl = self.bin("pg_ctl")
        if self.pid() is not None and pg_ctl:
            self.as_postgres(pg_ctl, "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")


def _major(bin_dir: str) -> int:
    try:
        return int(Path(bin_dir).parent.name)
    except ValueError:
        return 0


class FerretDB(Service):
    name = "ferretdb"
    env_key = "COURSEGRAPH_MONGODB_URL"

    @property
    def port(self) -> int:
        return _port("COURSEGRAPH_MONGODB_PORT", 57017)

    def local_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def build_dir(self) -> Path:
        return cache_dir() / f"ferretdb-{FERRETDB_BUILD}"

    @property
    def binary(self) -> Path:
        return self.build_dir / "ferretdb"

    def ensure_installed(self) -> None:
        with file_lock(cache_dir() / "ferretdb.lock"):
            if os.access(self.binary, os.X_OK):
                return
            go = which("go", "/usr/local/go/bin")
            if go is None:
                raise InfraError("FerretDB is built from its Go module, but no `go` toolchain found")
            print(f"building FerretDB {FERRETDB_VERSION} (takes minutes, once)", file=sys.stderr)
            self.build_dir.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "GOWORK": "off"}
            module = f"github.com/FerretDB/FerretDB@{FERRETDB_VERSION}"
            info = json.loads(run([go, "mod", "download", "-json", module], cwd=self.build_dir))
            # Built as a dependency of another module, FerretDB's version check panics on the
            # missing build/version/version.txt (its module zip lacks it); so build the module
            # itself from a writable copy with that file added.
            src = self.build_dir / "src"
            shutil.rmtree(src, ignore_errors=True)
            shutil.copytree(info["Dir"], src, copy_function=shutil.copyfile)
            for d, _, _ in os.walk(src):
                Path(d).chmod(0o755)
            (src / "build" / "version" / "version.txt").write_text(f"{FERRETDB_VERSION}\n")
            patch_source(src, *FERRETDB_ID_COLUMN)
            for case in FERRETDB_ID_IN_CASES:
                patch_source(src, *case)
            shutil.copyfile(FERRETDB_ID_IN, src / "internal" / "backends" / "sqlite" / FERRETDB_ID_IN.name)
            tmp = self.build_dir / "ferretdb.tmp"
            run(
                [go, "build", "-mod=mod", "-buildvcs=false", "-trimpath", "-o", str(tmp),
                 "./cmd/ferretdb"],
                cwd=src,
                env=env,
            )  # fmt: skip
            run([str(tmp), "--version"])  # fail here, not at start, if it still panics
            tmp.rename(self.binary)

    def command(self, port: int, directory: Path) -> list[str]:
        """FerretDB on SQLite files in `directory` (also used by `coursegraph dev`)."""
        (directory / "data").mkdir(parents=True, exist_ok=True)
        return [
            str(self.binary),
            f"--listen-addr=127.0.0.1:{port}",
            "--handler=sqlite",
            f"--sqlite-url=file:{directory / 'data'}/",
            f"--state-dir={directory}",
            "--telemetry=disable",
            "--debug-addr=-",  # no metrics HTTP port to collide with
        ]

    def start(self) -> None:
        spawn(self.command(self.port, self.dir), log_file=self.log_file, pid_file=self.pid_file, cwd=self.dir)

    def is_ready(self) -> bool:
        import pymongo

        try:
            client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
                self.url, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000
            )
            with client:
                return bool(client.admin.command("ping").get("ok"))
        except Exception:
            return False


def unpack_crate(name: str, version: str, sha256: str, into: Path) -> None:
    """A crate's source from crates.io, checked against its checksum, unpacked into `into`."""
    import httpx

    url = f"https://static.crates.io/crates/{name}/{name}-{version}.crate"
    content = httpx.get(url, timeout=120, follow_redirects=True).raise_for_status().content
    if hashlib.sha256(content).hexdigest() != sha256:
        raise InfraError(f"{url} does not have the expected checksum")
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
        archive.extractall(into, filter="data")


def patch_source(root: Path, path: str, old: str, new: str) -> None:
    """Replace one exact line of a dependency's source, or fail: a changed upstream needs a new look."""
    file = root / path
    text = file.read_text()
    if text.count(old) != 1:
        raise InfraError(f"cannot patch {path}: {old!r} is not there once (a new upstream version?)")
    file.write_text(text.replace(old, new))


class Kafka(Service):
    name = "kafka"
    env_key = "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS"
    start_timeout = 120.0

    @property
    def port(self) -> int:
        return _port("COURSEGRAPH_KAFKA_PORT", 59092)

    @property
    def controller_port(self) -> int:
        return _port("COURSEGRAPH_KAFKA_CONTROLLER_PORT", 59093)

    def local_url(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def libs(self) -> Path:
        return cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def config(self) -> Path:
        return self.dir / "server.properties"

    def ensure_installed(self) -> None:
        if not which("java"):
            apt_install("openjdk-17-jre-headless")
        with file_lock(cache_dir() / "kafka.lock"):
            if self.libs.is_dir():
                return
            if not which("mvn"):
                apt_install("maven")
            if (mvn := which("mvn")) is None:
                raise InfraError("Maven (mvn) not found after install")
            print(f"resolving Kafka {KAFKA_VERSION} jars from Maven Central", file=sys.stderr)
            home = self.libs.parent
            home.mkdir(parents=True, exist_ok=True)
            (home / "pom.xml").write_text(_KAFKA_POM)
            tmp = home / "libs.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            run(
                [mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
                 f"-DoutputDirectory={tmp}"],
                cwd=home,
            )  # fmt: skip
            tmp.rename(self.libs)  # atomic: a half-copied dir is never taken for complete

    def java(self, main: str, *args: str) -> list[str]:
        return [
            which("java") or "java",
            "-Xmx512m",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def start(self) -> None:
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (self.dir / "log4j.properties").write_text(_LOG4J)
        self.config.write_text(
            _KAFKA_CONFIG.format(port=self.port, controller=self.controller_port, data=data)
        )
        if not (data / "meta.properties").is_file():
            # A KRaft log dir must be formatted once with a cluster id (base64url of a UUID).
            # Passed as `--cluster-id=…`: one id in 64 starts with "-", which argparse would
            # otherwise read as an option (CI failed that way once).
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            run(self.java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                          "-c", str(self.config), "--ignore-formatted"))  # fmt: skip
        spawn(
            self.java("kafka.Kafka", str(self.config)),
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.dir,
        )

    def is_ready(self) -> bool:
        host, _, port = self.url.split(",")[0].rpartition(":")
        # Cheap probe first: aiokafka logs an error for every refused connection.
        if not port_open(int(port), host or "127.0.0.1"):
            return False

        from aiokafka.admin import AIOKafkaAdminClient

        async def check() -> bool:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.url, request_timeout_ms=5000)
            await admin.start()
            try:
                cluster = await admin.describe_cluster()
                return bool(cluster["brokers"])
            finally:
                await admin.close()

        # Keep aiokafka quiet while we poll a broker that may still be starting.
        logger = logging.getLogger("aiokafka")
        level = logger.level
        logger.setLevel(logging.CRITICAL)
        try:
            return asyncio.run(check())
        except Exception:
            return False
        finally:
            logger.setLevel(level)

    def stop(self) -> None:
        # A controlled shutdown takes a few seconds; give it time before SIGKILL.
        if (pid := self.pid()) is not None:
            terminate(pid, timeout=60)
        self.pid_file.unlink(missing_ok=True)


class S3(Service):
    """s3s-fs: an S3 API over a directory, built once from crates.io. Unlike moto's server it enforces
    presigned POST policies (content-length range, content type, key), which the media tests must prove;
    and it checks SigV4 signatures against one fixed key pair (local and test use only)."""

    name = "s3"
    env_key = "COURSEGRAPH_S3_ENDPOINT_URL"
    start_timeout = 30.0
    access_key_id = "coursegraph-local"
    secret_access_key = "coursegraph-local-secret"  # noqa: S105 (a local emulator's fixed key)

    @property
    def port(self) -> int:
        return _port("COURSEGRAPH_S3_PORT", 55000)

    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def extra_env(self) -> dict[str, str]:
        if self.external:
            return {}
        return {
            "COURSEGRAPH_S3_ACCESS_KEY_ID": self.access_key_id,
            "COURSEGRAPH_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    @property
    def build_dir(self) -> Path:
        return cache_dir() / f"s3s-fs-{S3S_FS_BUILD}"

    @property
    def binary(self) -> Path:
        return self.build_dir / "s3s-fs"

    def ensure_installed(self) -> None:
        with file_lock(cache_dir() / "s3s-fs.lock"):
            if os.access(self.binary, os.X_OK):
                return
            cargo = which("cargo", str(Path.home() / ".cargo" / "bin"))
            if cargo is None:
                raise InfraError("s3s-fs is built from crates.io, but no `cargo` found (install Rust)")
            print(f"building s3s-fs {S3S_FS_VERSION} (takes minutes, once)", file=sys.stderr)
            self.build_dir.mkdir(parents=True, exist_ok=True)
            src = self.build_dir / "src"
            shutil.rmtree(src, ignore_errors=True)
            src.mkdir()
            for crate, checksum in S3S_CRATES.items():
                unpack_crate(crate, S3S_FS_VERSION, checksum, src)
            patch_source(src / f"s3s-{S3S_FS_VERSION}", *S3S_BOUNDARY_LIMIT)
            server = src / f"s3s-fs-{S3S_FS_VERSION}"
            with (server / "Cargo.toml").open("a") as manifest:
                manifest.write(f'\n[patch.crates-io]\ns3s = {{ path = "../s3s-{S3S_FS_VERSION}" }}\n')
            run([cargo, "build", "--release", "--features", "binary"], cwd=server)
            tmp = self.build_dir / "s3s-fs.tmp"
            shutil.copy(server / "target" / "release" / "s3s-fs", tmp)
            run([str(tmp), "--version"])
            tmp.rename(self.binary)
            shutil.rmtree(server / "target", ignore_errors=True)  # a gigabyte of build products

    def start(self) -> None:
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        spawn(
            [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port),
             "--access-key", self.access_key_id, "--secret-key", self.secret_access_key, str(data)],
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.dir,
        )  # fmt: skip

    def is_ready(self) -> bool:
        import httpx

        try:
            httpx.get(self.url, timeout=2)  # any HTTP answer, even 403, means it is serving
        except httpx.HTTPError:
            return False
        return True


class Redis(Service):
    """Debian's redis-server: the catalog signal and the routers' shared limits and response cache
    (ADR 0022). Nothing in it must survive a restart, so nothing is saved."""

    name = "redis"
    env_key = "COURSEGRAPH_REDIS_URL"
    start_timeout = 30.0

    @property
    def port(self) -> int:
        return _port("COURSEGRAPH_REDIS_PORT", 56379)

    def local_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ensure_installed(self) -> None:
        if not which("redis-server"):
            apt_install("redis-server")
        if not which("redis-server"):
            raise InfraError("redis-server not found after install")

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        spawn(
            [which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.dir,
        )  # fmt: skip

    @property
    def marker(self) -> str:
        # redis-server rewrites its command line to `redis-server 127.0.0.1:PORT`: our dir is not in it.
        return "redis-server"

    def is_ready(self) -> bool:
        import redis

        try:
            client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
            with client:
                return bool(client.ping())
        except Exception:
            return False


SERVICES: dict[str, type[Service]] = {cls.name: cls for cls in (Postgres, FerretDB, Kafka, S3, Redis)}
ALIASES = {"postgresql": "postgres", "mongodb": "ferretdb", "mongo": "ferretdb", "s3s-fs": "s3"}

_KAFKA_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>coursegraph.infra</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>{SLF4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""

_KAFKA_CONFIG = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
"""

_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""
