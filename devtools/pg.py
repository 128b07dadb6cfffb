"""A throwaway PostgreSQL server from the system binaries, for the dev server and the test suite.

    server = PostgresServer(Path(".odys/pg")).start()
    server.create_database("odys_dev")
    os.environ["DATABASE_URL"] = server.url("odys_dev")
    ...
    server.stop()

The server runs with ``fsync``, ``synchronous_commit`` and ``full_page_writes`` off (fast, not crash-safe);
``PostgresServer(path, durable=True)`` keeps PostgreSQL's defaults, for benchmarks that compare with a durable write.

PostgreSQL refuses to run as root: when we are root, the cluster is created and run as an unprivileged user
(``postgres`` when it exists, otherwise ``odys``, created on the fly). When that user cannot reach the directory
(a checkout under ``/root``, mode 700), the cluster lives in ``/var/tmp/odys-pg-<hash of the directory>`` instead,
owned by that user (``server.relocated`` is then true and ``server.base`` says where). A cluster that cannot be
created or started raises :class:`PostgresError`, whose message says why in one line.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
from pathlib import Path

RELOCATION_ROOT = Path("/var/tmp")


class PostgresError(RuntimeError):
    """The cluster could not be created or started (the message is one line, with what to do)."""


def _run(args: list[str], what: str, log: Path | None = None) -> str:
    """Run a PostgreSQL tool; on failure raise PostgresError with its last word (or the server log's)."""
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        if log and log.exists():
            lines += [line.strip() for line in log.read_text(errors="replace").splitlines()[-20:]
                      if "FATAL" in line or "ERROR" in line]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise PostgresError(f"{what} failed: {reason}" + (f" (log: {log})" if log else ""))
    return result.stdout


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
    _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "odys"],
         "creating the user 'odys' to run PostgreSQL")
    return "odys"


class PostgresServer:
    def __init__(self, data_dir: Path, port: int | None = None, *, durable: bool = False) -> None:
        self.durable = durable  # True: PostgreSQL's own defaults (fsync, synchronous_commit, full_page_writes on)
        self.requested = Path(data_dir).resolve()
        self.port = port or free_port()
        self.user = _service_user()
        self.bin = _bindir()
        self.base = self._reachable(self.requested)
        self.relocated = self.base != self.requested
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.log = self.base / "postgres.log"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else list(args)

    def _chown(self, path: Path) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _reachable(self, wanted: Path) -> Path:
        """``wanted``, created and owned by the service user, or a directory of its own under /var/tmp when the
        service user cannot enter ``wanted`` (one of its parents is closed to it, e.g. /root)."""
        wanted.mkdir(parents=True, exist_ok=True)
        if not self.user:
            return wanted
        self._chown(wanted)
        if subprocess.run(self._cmd("test", "-w", str(wanted), "-a", "-x", str(wanted))).returncode == 0:
            return wanted
        with contextlib.suppress(OSError):
            wanted.rmdir()  # only if we just made it and it is empty
        digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
        base = RELOCATION_ROOT / f"odys-pg-{digest}"
        with contextlib.suppress(FileExistsError):
            base.mkdir(mode=0o700)
            self._chown(base)
        info = os.lstat(base)  # /var/tmp is world-writable: never follow a link or use someone else's directory
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != pwd.getpwnam(self.user).pw_uid:
            raise PostgresError(f"{base} exists but is not a directory owned by {self.user}: remove it, or set "
                                f"ODYS_DEV_PG_DIR to a directory {self.user} can enter")
        return base

    def start(self) -> "PostgresServer":
        self.base.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        for path in (self.base, self.sock):
            self._chown(path)
        if not (self.data / "PG_VERSION").exists():
            _run(self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                           "-E", "UTF8", "--no-locale", "--no-sync"), f"initdb in {self.data}")
        status = subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "status"),
                                capture_output=True)
        if status.returncode == 0:  # left running by an earlier run that was killed: this cluster is throwaway
            self.stop()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                raise PostgresError(f"port {self.port} is in use: choose another (ODYS_DEV_PG_PORT=54330 make dev)"
                                    ) from None
        if self.log.exists():
            self._chown(self.log)
        else:
            self.log.touch()
            self._chown(self.log)
        fast = "" if self.durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 {fast}-c max_connections=200"
        _run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts,
                       "-w", "-t", "60", "start"), f"starting PostgreSQL on port {self.port}", self.log)
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
        return _run([str(self.bin / "psql") if (self.bin / "psql").exists() else "psql", "-X", "-q", "-At",
                     "-h", str(self.sock), "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
                    f"psql on {database}")

    def create_database(self, name: str, *, drop: bool = True) -> None:
        if drop:
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')
