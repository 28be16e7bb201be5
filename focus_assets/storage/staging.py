"""Hidden staging names: a file is written beside its final place and renamed when complete, so
a reader never sees half of it."""

from __future__ import annotations

import glob
import os
from pathlib import Path


def staging_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place: a hidden name beside it, owned by
    this process. Leftovers of processes that died before renaming (killed, out of memory) are
    removed here, so a re-run cleans up after the run it replaces."""
    path = Path(path)
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.staging"):
        pid = leftover.name[len(path.name) + 2 : -len(".staging")]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            leftover.unlink(missing_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.staging")


def process_alive(pid: int) -> bool:
    """Whether a process of this machine is running (a staging file's owner)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
