"""A throwaway PostgreSQL server from the system binaries, for the dev server and the test suite.

    server = PostgresServer(Path(".odys/pg")).start()
    server.create_database("odys_dev")
    os.environ["DATABASE_URL"] = server.url("odys_dev")
    ...
    server.stop()

PostgreSQL refuses to run as root: when we are root, the cluster is created and run as an unprivileged user
(``postgres`` when it exists, otherwise ``odys``, created on the fly).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path


def _bindir() -> Path:
    for candidate in (os.environ.get("PG_BINDIR"), shutil.which("pg_config") and subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    if shutil.which("initdb"):
        return Path(shutil.which("initdb")).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: install them (make installs 'postgresql') or set PG_BINDIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "odys"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "odys"], check=True)
    return "odys"


class PostgresServer:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.base = Path(data_dir).resolve()
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.port = port or free_port()
        self.user = _service_user()
        self.bin = _bindir()
        self.log = self.base / "postgres.log"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else list(args)

    def _chown(self, path: Path) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> "PostgresServer":
        self.base.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        for path in (self.base, self.sock):
            self._chown(path)
        if not (self.data / "PG_VERSION").exists():
            subprocess.run(self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                     "-E", "UTF8", "--no-locale", "--no-sync"),
                           check=True, capture_output=True)
        status = subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "status"),
                                capture_output=True)
        if status.returncode == 0:  # left running by an earlier run that was killed: this cluster is throwaway
            self.stop()
        if self.log.exists():
            self._chown(self.log)
        else:
            self.log.touch()
            self._chown(self.log)
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts,
                                 "-w", "-t", "60", "start"), check=True, capture_output=True)
        return self

    def stop(self) -> None:
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"),
                       capture_output=True)

    def url(self, database: str, *, tcp: bool = False) -> str:
        if tcp:
            return f"postgresql://postgres@127.0.0.1:{self.port}/{database}?sslmode=disable"
        return f"postgresql://postgres@/{database}?host={self.sock}&port={self.port}".replace(
            "@/", f"@localhost:{self.port}/").replace(f"&port={self.port}", "")

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run([str(self.bin / "psql") if (self.bin / "psql").exists() else "psql", "-X", "-q", "-At",
                              "-h", str(self.sock), "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout

    def create_database(self, name: str, *, drop: bool = True) -> None:
        if drop:
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')
