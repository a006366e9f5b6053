"""One process at a time in a directory: runs, datasets and reproductions.

`own_directory` takes an exclusive `fcntl.flock` on `<directory>/.nbf_lock`
and writes the owner (pid, command, since when) into it. The OS releases
the lock when the process ends, however it ends, so a killed owner leaves
no stale lock. A released lock file is emptied but stays: deleting it would
let a second process lock a new file while a third still holds the old one.
Within one process the ownership is shared: every `own_directory` of the
same directory returns a handle on the same lock, released when the last
handle is.
"""
import fcntl
import os
import sys
import time

LOCK_FILE = ".nbf_lock"


class DirectoryBusy(RuntimeError):
    """Another process owns the directory."""


class _Lock:
    """The open, locked lock file of one directory and how many handles hold it."""

    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_FILE)
        self.handles = 0
        # "a+": created if missing, read without truncating what the owner wrote.
        self.stream = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self.stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.stream.seek(0)
            owner = self.stream.read().strip() or "another process"
            self.stream.close()
            raise DirectoryBusy(
                f"{directory}: in use by {owner} (it holds the lock on {self.path}); wait for "
                "it to finish or stop it, or use another directory") from None
        self.stream.seek(0)
        self.stream.truncate()
        self.stream.write(f"process {os.getpid()} ({os.path.basename(sys.argv[0])}), started "
                          f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        self.stream.flush()


_HELD = {}  # {real path of a directory: its _Lock}, for the directories this process owns.


class Ownership:
    """A handle on this process's lock of a directory (a context manager; `release`)."""

    def __init__(self, lock):
        self._lock = lock
        lock.handles += 1

    def release(self):
        lock, self._lock = self._lock, None
        if lock is None:
            return
        lock.handles -= 1
        if lock.handles == 0:
            del _HELD[lock.directory]
            # At interpreter exit the file may be closed (and the flock released) already.
            if not lock.stream.closed:
                lock.stream.truncate(0)  # A released lock names no owner.
                lock.stream.close()  # Closing releases the flock.

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()

    def __del__(self):
        self.release()


def own_directory(directory):
    """Makes this process the owner of `directory` (created if missing).

    Raises DirectoryBusy, naming the owner's pid, command and start time,
    while another process owns it.
    """
    directory = os.path.realpath(directory)
    lock = _HELD.get(directory)
    if lock is None:
        os.makedirs(directory, exist_ok=True)
        lock = _HELD[directory] = _Lock(directory)
    return Ownership(lock)
