"""Worker processes that end with the run that started them.

Prophet (joblib's loky backend) and the statsforecast families (a process pool) fit series
in worker processes. A forecast run killed half-way (`kill -9`, or SIGTERM from a service
manager) used to leave those workers running as orphans: still fitting their share, then
idling until loky's 5-minute timeout, for up to the better part of an hour on a big run.
Here:

- every worker runs `watch_parent` first: a daemon thread that ends the worker within
  PARENT_POLL_S of its parent's death (a dead parent's children are re-parented, so
  `os.getppid()` changes) - this covers SIGKILL, which the parent cannot catch;
- loky's idle workers retire after IDLE_WORKER_TIMEOUT_S instead of 300 s;
- a SIGTERM that arrives in the main thread while workers run terminates them at once,
  then ends the run as SIGTERM would (exit status 143), instead of leaving them behind.

    process_map(fn, jobs, n_jobs)   -> [fn(*job) for job in jobs], in worker processes
    joblib_map(fn, jobs, n_jobs)    -> the same through joblib (loky), for Prophet
"""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Sequence

PARENT_POLL_S = 0.5
IDLE_WORKER_TIMEOUT_S = 15


def watch_parent(parent_pid: int, poll_s: float = PARENT_POLL_S) -> None:
    """Worker initializer: end this process as soon as `parent_pid` is no longer its
    parent (the parent died, whatever killed it). A forked worker also drops the SIGTERM
    handler it inherited, so SIGTERM ends it rather than failing its current job."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(poll_s)

    threading.Thread(target=watch, name="micropulse-parent-watch", daemon=True).start()


@contextmanager
def sigterm_raises():
    """Inside: SIGTERM raises SystemExit(143) in the main thread, so the code that holds
    the workers can terminate them (outside the main thread, or where signals cannot be
    set, nothing changes: the workers' own parent check still ends them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signal.SIGTERM)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, ValueError, AttributeError):
            pass


def process_map(fn: Callable, jobs: Iterable[Sequence], n_jobs: int) -> list:
    """[fn(*job) for job in jobs] on up to `n_jobs` worker processes that die with this
    one; results in job order. Any exception (a job's, Ctrl-C, SIGTERM) terminates the
    workers before it propagates."""
    jobs = list(jobs)
    if n_jobs <= 1 or len(jobs) <= 1:
        return [fn(*job) for job in jobs]
    pool = ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)), initializer=watch_parent,
                               initargs=(os.getpid(),))
    try:
        with sigterm_raises():
            futures = [pool.submit(fn, *job) for job in jobs]
            results = [f.result() for f in futures]
    except BaseException:
        _kill_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def joblib_map(fn: Callable, jobs: Iterable[Sequence], n_jobs: int) -> list:
    """process_map through joblib's loky backend (workers are fresh interpreters, so this
    suits libraries that dislike fork, e.g. Prophet / cmdstan), with the same guarantees
    and a short idle timeout for loky's reusable workers."""
    from joblib import Parallel, delayed
    from joblib._parallel_backends import LokyBackend

    jobs = list(jobs)
    if n_jobs <= 1 or len(jobs) <= 1:
        return [fn(*job) for job in jobs]
    backend = LokyBackend(initializer=watch_parent, initargs=(os.getpid(),),
                          idle_worker_timeout=IDLE_WORKER_TIMEOUT_S)
    try:
        with sigterm_raises():
            return Parallel(n_jobs=n_jobs, backend=backend)(delayed(fn)(*job) for job in jobs)
    except BaseException:
        kill_loky_workers()
        raise


def kill_loky_workers() -> None:
    """Terminate loky's reusable workers now (joblib keeps them for later calls)."""
    try:
        from joblib.externals.loky import reusable_executor

        executor = getattr(reusable_executor, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, kill_workers=True)
    except Exception:   # loky is not usable here: the workers' parent check remains
        pass
