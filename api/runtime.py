"""The API server process: one per warehouse, with a temporary folder of its own.

DuckDB lets one process at a time open a warehouse file for writing. Two API worker
processes on one warehouse (`uvicorn --workers 2`, gunicorn with several workers, or two
separate servers) would each answer 503 `warehouse_locked` whenever the other holds the
file, at random. So the API refuses to start as a second process, with a sentence saying
why and what to run instead:

- a uvicorn worker knows its server's configuration (uvicorn hands its `Config` to every
  worker process it spawns): more than one worker is refused in every worker before any
  request is served, and uvicorn then stops the whole server;
- any other second process (another server on the same file, a pre-fork server's second
  worker) finds the warehouse's API lock held: `<warehouse>.api/server.lock`, an OS file
  lock that the kernel releases when its process ends, even on SIGKILL, so a killed server
  never blocks the next start.

Temporary files: each API process works in `<warehouse>.api/tmp/<pid>-<random>/` (uploads
while they are received and loaded; for a server process, every `tempfile` user in it, e.g.
the engine's transcoded CSV copies). The folder holds an `.owner` file the process keeps
locked; it is removed on a clean shutdown, and a later start removes every folder whose
owner is gone (a killed server's leftovers), so a kill never leaves an upload behind for
good.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import multiprocessing
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:            # Windows
    fcntl = None

log = logging.getLogger("micropulse.api")

_SYSTEM_TMP = tempfile.gettempdir()
STALE_UNOWNED_S = 600          # a folder without an .owner file (killed while being made)
OWNER_FILE = ".owner"


# ---- OS file locks ------------------------------------------------------------------------------
def _try_lock(fh) -> bool:
    """Exclusive, non-blocking lock on an open file (per open file, so two opens in one
    process exclude each other too). False when someone else holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
    import msvcrt
    try:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _unlock(fh) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        else:
            import msvcrt
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
    except OSError:
        pass
    fh.close()


# ---- where -------------------------------------------------------------------------------------
def warehouse_file(warehouse_path: str | Path | None) -> Path:
    """The warehouse file the API serves (the same default as `Warehouse`)."""
    from engine.warehouse.db import default_path

    path = Path(warehouse_path) if warehouse_path is not None else default_path()
    return path.expanduser().resolve()


def api_home(warehouse_path: str | Path | None) -> Path:
    """`<warehouse>.api/` beside the warehouse file; when that folder cannot be made (a
    read-only data folder), a folder in the system's temporary directory named after the
    warehouse's path."""
    wh = warehouse_file(warehouse_path)
    home = wh.with_name(wh.name + ".api")
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return home
    except OSError:
        digest = hashlib.sha1(str(wh).encode("utf-8")).hexdigest()[:12]
        home = Path(_SYSTEM_TMP) / f"micropulse-api-{digest}"
        home.mkdir(parents=True, exist_ok=True)
        return home


# ---- one API process per warehouse ------------------------------------------------------------
def uvicorn_workers() -> int:
    """The number of worker processes of the uvicorn server this process is a worker of
    (uvicorn passes its Config to each worker it spawns); 1 when not a uvicorn worker."""
    kwargs = getattr(multiprocessing.current_process(), "_kwargs", None)
    config = kwargs.get("config") if isinstance(kwargs, dict) else None
    if config is None or type(config).__module__.split(".")[0] != "uvicorn":
        return 1
    try:
        return max(1, int(getattr(config, "workers", 1) or 1))
    except (TypeError, ValueError):
        return 1


HOW_TO_RUN = ("Run one API process: `python -m api` or `make api` (or `uvicorn api.main:app` "
              "without --workers and without WEB_CONCURRENCY above 1); one process serves "
              "requests concurrently on its threads. To serve the app and the API on one "
              "warehouse, run the API inside the app: `make run-with-api` "
              "(MICROPULSE_API_IN_APP=1).")


def multi_worker_message(workers: int, warehouse: Path) -> str:
    env = os.environ.get("WEB_CONCURRENCY")
    source = f" (WEB_CONCURRENCY={env})" if env and env.strip() == str(workers) else ""
    return (f"MicroPulse API refused to start: the server was asked for {workers} worker "
            f"processes{source}, but the DuckDB warehouse {warehouse.name} allows one writer "
            "process, so the other workers would answer 503 'warehouse_locked' at random. "
            + HOW_TO_RUN)


_HELD: dict[Path, list] = {}        # lock file -> [open file, holders in this process]
_HELD_LOCK = threading.Lock()


def _holder_pid(lock_path: Path) -> str:
    try:
        return lock_path.read_text(encoding="ascii").strip()[:20] or "?"
    except OSError:
        return "?"


def acquire_server_lock(home: Path, warehouse: Path) -> str | None:
    """Take the warehouse's API lock for this process (re-entrant within the process).
    Returns None, or the sentence explaining why this process must not serve."""
    lock_path = home / "server.lock"
    with _HELD_LOCK:
        held = _HELD.get(lock_path)
        if held is not None:
            held[1] += 1
            return None
        fh = open(lock_path, "a+", encoding="ascii")
        if not _try_lock(fh):
            fh.close()
            return (f"MicroPulse API refused to start: another API process (pid "
                    f"{_holder_pid(lock_path)}) already serves the warehouse "
                    f"{warehouse.name}, and DuckDB allows one writer process, so a second "
                    "one would answer 503 'warehouse_locked' at random (with uvicorn "
                    "--workers, gunicorn -w or WEB_CONCURRENCY above 1, this is its second "
                    "worker). " + HOW_TO_RUN)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        _HELD[lock_path] = [fh, 1]
    return None


def release_server_lock(home: Path) -> None:
    lock_path = home / "server.lock"
    with _HELD_LOCK:
        held = _HELD.get(lock_path)
        if held is None:
            return
        held[1] -= 1
        if held[1] <= 0:
            _HELD.pop(lock_path)
            _unlock(held[0])


# ---- temporary folders ------------------------------------------------------------------------
def sweep_stale(root: Path, now: float | None = None) -> list[Path]:
    """Remove the folders under `root` whose owning process is gone: their `.owner` file
    can be locked (the kernel dropped the dead owner's lock), or they have no `.owner` and
    are older than STALE_UNOWNED_S. Returns the folders removed."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not entry.is_dir() or entry.is_symlink():
            continue
        owner = entry / OWNER_FILE
        try:
            if owner.exists():
                with open(owner, "a+", encoding="ascii") as fh:
                    if not _try_lock(fh):
                        continue              # its process is alive
            elif now - entry.stat().st_mtime < STALE_UNOWNED_S:
                continue                      # being created right now
        except OSError:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    if removed:
        log.info("removed %d temporary folder(s) left by API processes that were killed",
                 len(removed))
    return removed


class TempArea:
    """This process's temporary folder under `<home>/tmp`, made (after sweeping stale
    folders) on first use and removed by close()."""

    def __init__(self, home: Path):
        self.root = home / "tmp"
        self._dir: Path | None = None
        self._owner = None
        self._lock = threading.Lock()
        self.swept: list[Path] = []

    def folder(self) -> Path:
        with self._lock:
            if self._dir is None or not self._dir.exists():
                self.root.mkdir(parents=True, exist_ok=True)
                self.swept = sweep_stale(self.root)
                folder = self.root / f"{os.getpid()}-{secrets.token_hex(4)}"
                folder.mkdir()
                owner = open(folder / OWNER_FILE, "a+", encoding="ascii")
                _try_lock(owner)
                owner.write(str(os.getpid()))
                owner.flush()
                self._dir, self._owner = folder, owner
            return self._dir

    def new_folder(self, prefix: str = "upload_") -> Path:
        """A fresh folder for one upload inside this process's folder."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.folder()))

    def close(self) -> None:
        with self._lock:
            if self._owner is not None:
                _unlock(self._owner)
                self._owner = None
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


class ServerProcess:
    """What an API process takes at start-up and gives back at shutdown: the single-worker
    check, the warehouse's API lock and its temporary folder (and, for a server that owns
    its process, `tempfile`'s default folder)."""

    def __init__(self, warehouse_path: str | Path | None, own_process: bool = False):
        self.warehouse_path = warehouse_path
        self.own_process = own_process
        self._home: Path | None = None
        self._temp: TempArea | None = None
        self._locked = False
        self._holds_lock = False
        self._old_tempdir: str | None = None
        self._redirected = False
        self._lock = threading.Lock()

    @property
    def home(self) -> Path:
        if self._home is None:
            self._home = api_home(self.warehouse_path)
        return self._home

    @property
    def temp(self) -> TempArea:
        with self._lock:
            if self._temp is None:
                self._temp = TempArea(self.home)
            return self._temp

    def start(self) -> str | None:
        """None when this process may serve, else the sentence saying why not."""
        if self._locked:
            return None
        from engine.warehouse.db import backend_class

        # A DuckDB file takes one writer process; a shared database (PostgreSQL) any number
        # of API processes and workers.
        if not backend_class().multi_process:
            warehouse = warehouse_file(self.warehouse_path)
            workers = uvicorn_workers()
            if workers > 1:
                return multi_worker_message(workers, warehouse)
            problem = acquire_server_lock(self.home, warehouse)
            if problem:
                return problem
            self._holds_lock = True
        self._locked = True
        folder = self.temp.folder()
        if self.own_process:
            self._old_tempdir, self._redirected = tempfile.tempdir, True
            tempfile.tempdir = str(folder)
        return None

    def stop(self) -> None:
        if self._redirected:
            tempfile.tempdir, self._redirected = self._old_tempdir, False
        if self._temp is not None:
            self._temp.close()
        if self._holds_lock:
            release_server_lock(self.home)
            self._holds_lock = False
        self._locked = False
