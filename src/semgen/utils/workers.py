"""Worker processes that never outlive their parent.

A pool of fresh ("spawn") processes inherits no thread state of the caller. Its workers wait
on a queue whose write end they hold themselves, so a parent killed with ``kill -9`` would
leave them waiting forever; :func:`process_pool` starts each worker with a watcher thread
that ends the worker as soon as its parent is gone.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
import time

PARENT_CHECK_S = 0.5


def _exit_without_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def watch_parent(parent: int) -> None:
    """Pool initializer: end this worker (exit code 1) within :data:`PARENT_CHECK_S` seconds
    of the death of process ``parent``."""
    threading.Thread(target=_exit_without_parent, args=(parent,), daemon=True, name="semgen-parent-watch").start()


def process_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """``workers`` spawned processes that exit when this process dies."""
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=watch_parent, initargs=(os.getpid(),)
    )
