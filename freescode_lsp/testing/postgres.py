"""A real PostgreSQL server for tests, benchmarks and fault campaigns: Debian's binaries, a throwaway cluster, loopback only.

server = start_postgres()          # PostgresUnavailable (with the reason) where it cannot be set up
url = server.create_database()     # postgresql://freescode@127.0.0.1:PORT/db_1, a new empty database
server.restart()                   # stop (fast shutdown) and start again on the same port
server.close()                     # stop and delete the cluster

Debian's `postgresql` package is installed with apt-get when no /usr/lib/postgresql/*/bin is found and this
process runs as root. The cluster lives in a fresh temporary folder; PostgreSQL refuses to run as root, so as
root it runs as `nobody`, which owns that folder. It listens on 127.0.0.1 and on a Unix socket in the folder.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

DEBIAN_ROOT = Path("/usr/lib/postgresql")
UNPRIVILEGED = "nobody"
SUPERUSER = "freescode"
INSTALL_TIMEOUT_S = 900
START_TIMEOUT_S = 60.0


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be set up on this machine; the message says why."""


def find_binaries(root: Path = DEBIAN_ROOT) -> Path | None:
    """The bin folder of the newest PostgreSQL under /usr/lib/postgresql that has initdb and postgres, or None."""
    found = [path for path in root.glob("*/bin") if (path / "initdb").is_file() and (path / "postgres").is_file()]
    numbered = [path for path in found if path.parent.name.isdigit()]
    return max(numbered, key=lambda path: int(path.parent.name), default=None)


def install_postgres() -> None:
    """apt-get install Debian's postgresql package; PostgresUnavailable when not root, without apt-get, or it failed."""
    if os.geteuid() != 0:
        raise PostgresUnavailable("PostgreSQL is not installed and this is not root (apt-get install postgresql)")
    if shutil.which("apt-get") is None:
        raise PostgresUnavailable("PostgreSQL is not installed and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
    ):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise PostgresUnavailable(f"{' '.join(command)} did not finish within {INSTALL_TIMEOUT_S} s") from None
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")


def ensure_binaries() -> Path:
    """PostgreSQL's bin folder, installing Debian's package first when it is missing."""
    found = find_binaries()
    if found is None:
        install_postgres()
        found = find_binaries()
    if found is None:
        raise PostgresUnavailable(f"no PostgreSQL binaries under {DEBIAN_ROOT} even after installing the package")
    return found


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One throwaway PostgreSQL cluster and its server process."""

    def __init__(self, bin_dir: Path, folder: Path, *, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam(UNPRIVILEGED)
            self._as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(folder, account.pw_uid, account.pw_gid)

    def url(self, dbname: str = "postgres") -> str:
        """A postgresql:// URL of one database on this server, over loopback TCP."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def init(self) -> None:
        """Create the cluster (trusting loopback connections: nothing else can reach it)."""
        command = [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"]
        self._run([*command, "--locale=C", "--no-sync"], "initdb")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.folder),
            "max_connections": "200",
            "shared_buffers": "64MB",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
        }
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, **self._as_user)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-1500:]
                self.stop()
                raise PostgresUnavailable(f"the PostgreSQL server did not start: {tail}")
            time.sleep(0.1)

    def ready(self) -> bool:
        """Whether the server accepts connections now."""
        probe = [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER]
        return subprocess.run(probe, check=False, timeout=10).returncode == 0

    def stop(self, how: signal.Signals = signal.SIGINT) -> None:
        """Stop the server: SIGINT is PostgreSQL's fast shutdown (connections dropped, nothing lost), SIGKILL a crash."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(how)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop the server and start it again on the same port, with the same data."""
        self.stop()
        self.start()

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        import psycopg

        dbname = name or f"db_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{dbname}"')
        return self.url(dbname)

    def drop_connections(self, dbname: str) -> int:
        """End every client connection to one database, as a failing network would; how many were ended."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        return sum(1 for (ended,) in rows if ended)

    def close(self) -> None:
        """Stop the server and delete the cluster."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, command: list[str], what: str) -> None:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, **self._as_user)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{what} failed: {(done.stderr or done.stdout).strip()[-1000:]}")


def start_postgres(*, durable: bool = False) -> PostgresServer:
    """A running throwaway PostgreSQL server on loopback (not durable: no fsync, for speed); else PostgresUnavailable."""
    bin_dir = ensure_binaries()
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(UNPRIVILEGED)
        except KeyError:
            raise PostgresUnavailable(f"running as root and there is no {UNPRIVILEGED!r} user to run PostgreSQL as") from None
    server = PostgresServer(bin_dir, Path(tempfile.mkdtemp(prefix="freescode-postgres-")), durable=durable)
    try:
        server.init()
        server.start()
    except BaseException:
        server.close()
        raise
    return server
