"""One lock per output root, and the clean-up of what a killed command left there.

Every command that writes into an output root holds its lock for the whole time it
works: `with output_lock(out): ...`. The lock is an flock on `ROOT/.doudian.lock`, so
the kernel drops it when its holder dies and a lock left by a killed command is taken
over at once. Roots nest (`doudian run` writes into OUTPUT/SHOP, a user may settle into
OUTPUT/SHOP by hand): taking a root's lock also takes the locks already present below
it, and a shared hold on the locks present above it, so two commands whose roots
contain one another never work at the same time. Within one process the lock is
reentrant: a stage called by `doudian run` on a folder inside the run's root goes
ahead under the run's lock.

Temporary files and folders are recognised by a mark this tool writes, never by their
name alone: a scratch folder holds the file `.doudian-scratch`, a temporary file ends in
`.doudian-tmp`. Each is flocked by the process that made it for as long as it is in
use, so clean-up removes only what a dead process left (`clear_leftovers`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import socket
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import DoudianError, UsageError

#: A second command while one holds the lock exits with this code (EX_TEMPFAIL: try later).
EXIT_LOCKED = 75
LOCK_NAME = ".doudian.lock"
#: The mark inside a scratch folder, and the ending of a temporary file.
SCRATCH_MARK = ".doudian-scratch"
TEMP_SUFFIX = ".doudian-tmp"


class RunLocked(DoudianError):
    exit_code = EXIT_LOCKED


#: The roots this process holds (resolved path -> depth of nested holds).
_held: dict[Path, int] = {}
_held_guard = threading.Lock()


def _holder_text(fd: int) -> str:
    return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()


def _held_here(root: Path) -> bool:
    return any(root == p or p in root.parents for p in _held)


def _try_lock(path: Path, mode: int, root: Path, shown: Path, fds: list[int]) -> None:
    """flock `path` (non-blocking) and keep its fd in `fds`; RunLocked when another
    process holds it."""
    flags = os.O_RDWR | os.O_CREAT if mode == fcntl.LOCK_EX else os.O_RDONLY
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        if mode == fcntl.LOCK_EX:
            raise
        return  # a lock above that we may not read: not ours to honour
    fds.append(fd)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_text(fd) or "another process"
        where = "" if path.parent == root else f" of {path.parent}"
        raise RunLocked(
            f"{shown}: another doudian run holds the lock{where} ({holder}); nothing was done",
            "wait for it to finish; a lock whose holder has died is taken over by the next run",
        ) from None


def _nested_locks(root: Path) -> Iterator[Path]:
    """The lock files below `root` (other output roots inside it)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        if LOCK_NAME in filenames and here != root and here not in _held:
            yield here / LOCK_NAME


@contextlib.contextmanager
def output_lock(root: Path, log: Callable[..., Any] | None = None) -> Iterator[None]:
    """Hold the output root's lock for the block (made, with the root, when missing).
    Raises RunLocked (exit 75) at once when another process holds this root, a root
    inside it or a root around it. `log(level, shop, stage, message)`, when given,
    hears that a lock left by a command that did not finish was taken over."""
    root.mkdir(parents=True, exist_ok=True)
    shown, root = root, root.resolve()
    with _held_guard:
        if _held_here(root):
            _held[root] = _held.get(root, 0) + 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield
        finally:
            _release(root)
        return
    fds: list[int] = []
    try:
        _try_lock(root / LOCK_NAME, fcntl.LOCK_EX, root, shown, fds)
        own = fds[0]
        previous = _holder_text(own)
        for lock in _nested_locks(root):
            _try_lock(lock, fcntl.LOCK_EX, root, shown, fds)
        for parent in root.parents:
            if (parent / LOCK_NAME).is_file():
                _try_lock(parent / LOCK_NAME, fcntl.LOCK_SH, root, shown, fds)
        if previous and log is not None:
            log("warning", None, None, f"took over the lock left by a run that did not finish ({previous})")  # fmt: skip
        os.ftruncate(own, 0)
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        os.pwrite(own, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        with _held_guard:
            _held[root] = 1
        try:
            yield
        finally:
            _release(root)
        os.ftruncate(own, 0)
    finally:
        for fd in fds:
            os.close(fd)  # releases the flocks


@contextlib.contextmanager
def held_by_caller(root: Path) -> Iterator[None]:
    """For the block, this process works under a lock of `root` that its caller holds
    (`doudian run`'s driver, which hands shops to worker processes): stages inside
    `root` go ahead as if this process held it."""
    root = root.resolve()
    with _held_guard:
        _held[root] = _held.get(root, 0) + 1
    try:
        yield
    finally:
        _release(root)


def _release(root: Path) -> None:
    with _held_guard:
        _held[root] -= 1
        if not _held[root]:
            del _held[root]


@contextlib.contextmanager
def in_use(path: Path) -> Iterator[None]:
    """Mark `path` (a scratch mark or a temporary file of ours) as in use by this
    process for the block: clean-up leaves it alone while the block runs."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _abandoned(path: Path) -> bool:
    """True when `path` is a regular file nobody holds `in_use` (its maker has died)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def clear_leftovers(root: Path) -> int:
    """Remove the scratch folders and temporary files that a killed command of this
    tool left under `root`: only those carrying its mark and no longer in use."""
    removed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in list(dirnames):
            mark = here / name / SCRATCH_MARK
            if name.startswith(".") and not (here / name).is_symlink() and _abandoned(mark):
                shutil.rmtree(here / name, ignore_errors=True)
                dirnames.remove(name)
                removed += 1
        for name in filenames:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX) and _abandoned(here / name):
                (here / name).unlink(missing_ok=True)
                removed += 1
    return removed


def refuse_inputs_inside(
    out: Path, inputs: Iterable[str | Path], option: str = "{opt:out}"
) -> None:
    """UsageError (exit 2) when the output folder holds one of the input files (is the
    folder of an input, or a folder above one): its clean-up and outputs must never
    touch the exports. Checked before anything is written."""
    root = Path(os.path.realpath(out))
    for given in inputs:
        path = Path(os.path.realpath(given))
        if root == path or root in path.parents:
            raise UsageError(
                f"{option} {out} holds the input file {given}: the output folder must be "
                "outside the folders of the exports"
            )


__all__ = [
    "EXIT_LOCKED",
    "LOCK_NAME",
    "SCRATCH_MARK",
    "TEMP_SUFFIX",
    "RunLocked",
    "clear_leftovers",
    "held_by_caller",
    "in_use",
    "output_lock",
    "refuse_inputs_inside",
]
