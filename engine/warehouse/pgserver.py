"""A throwaway local PostgreSQL server (Debian's `postgresql` package: initdb + pg_ctl) for
`make run-postgres` and the PostgreSQL test run. Nothing is installed or downloaded: the
server binaries must be on the machine (`apt-get install -y postgresql`).

    python -m engine.warehouse.pgserver start .pg     # prints the MICROPULSE_DATABASE_URL
    python -m engine.warehouse.pgserver stop .pg

The cluster lives in the folder given (data/, socket, log), listens on a Unix socket there
only (no TCP port), trusts local connections and is owned by the invoking user - or, when
run as root (PostgreSQL refuses to), by the `postgres` system user the package creates.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from engine.errors import MicroPulseError

USER = "micropulse"
DATABASE = "micropulse"
PORT = 5432


class PostgresServerError(MicroPulseError):
    code = "postgres_server"


def bin_dir() -> Path:
    """The folder with initdb and pg_ctl (PATH first, then Debian's versioned folders)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "pg_ctl").exists():
            return Path(cand)
    raise PostgresServerError(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed; install Debian's "
        "package: apt-get install -y postgresql")


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def url(folder: str | Path) -> str:
    folder = Path(folder).resolve()
    return f"postgresql+psycopg://{USER}@/{DATABASE}?host={folder}&port={PORT}"


def start(folder: str | Path) -> str:
    """Create (first time) and start the cluster in `folder`; return its SQLAlchemy URL."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        if subprocess.run(_as_owner(["test", "-w", str(folder)])).returncode != 0:
            raise PostgresServerError(
                f"PostgreSQL does not run as root, and its 'postgres' system user cannot "
                f"reach {folder} (a parent folder is closed to other users). Put the "
                "cluster where it can (e.g. PGDIR=/tmp/micropulse-pg make run-postgres) or "
                "run as an ordinary user.")
    bins = bin_dir()
    if not (data / "PG_VERSION").exists():
        _run(_as_owner([str(bins / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                        "-E", "UTF8", "--no-instructions"]), "initdb")
    if not (data / "postmaster.pid").exists():
        opts = (f"-p {PORT} -k {folder} -c listen_addresses='' -c fsync=off "
                "-c max_connections=200 -c shared_buffers=128MB")
        _run(_as_owner([str(bins / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                        str(folder / "server.log"), "-w", "start"]), "pg_ctl start")
    _ensure_database(folder)
    return url(folder)


def stop(folder: str | Path) -> None:
    folder = Path(folder).resolve()
    if (folder / "data" / "postmaster.pid").exists():
        _run(_as_owner([str(bin_dir() / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast",
                        "-w", "stop"]), "pg_ctl stop")


def _ensure_database(folder: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(host=str(folder), port=PORT, user=USER, dbname="postgres",
                                 autocommit=True) as con:
                if con.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                               [DATABASE]).fetchone() is None:
                    con.execute(f"CREATE DATABASE {DATABASE}")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise PostgresServerError(f"{what} failed: {(done.stderr or done.stdout).strip()}")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m engine.warehouse.pgserver start|stop FOLDER", file=sys.stderr)
        return 2
    try:
        if argv[0] == "start":
            print(start(argv[1]))
        else:
            stop(argv[1])
    except MicroPulseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
