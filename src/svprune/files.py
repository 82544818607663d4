"""Writing files so that a reader never sees half of one: each output goes to a temporary file of its own in
the same directory (a unique name, so concurrent writers of the same path never share one), which replaces the
destination only when complete, and is removed if writing fails."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

RERUN_COMMAND = "SVPRUNE_RERUN"
"""The environment variable in which the workflow leaves the command that reran it (``snakemake --cores all
--configfile ...``), so that advice names the same config file; jobs inherit it."""


def rerun_command() -> str:
    """The command that reruns this workflow, for advice in errors (plain ``snakemake --cores all`` outside it)."""
    return os.environ.get(RERUN_COMMAND, "snakemake --cores all")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, with the permissions any file the
    user creates gets (``0o666`` less the umask: mkstemp's own are 0600, which colleagues on a shared cluster
    could not read); on any error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix or path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
