"""Errors a user can fix. The CLI prints them as one line (no traceback) and exits with 2.

Every error whose message names the fix derives from :class:`UserError`.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input (name, file, config, agent output...); the message says how to fix it."""


class SuiteError(UserError, ValueError):
    """A suite file or a suite/task name is wrong; the message names the fix."""


class AgentCodeError(UserError):
    """An agent's own code raised: the message names the agent and the method; the original
    exception is chained (``__cause__``) so ``--debug`` shows the agent's traceback."""

    def __init__(self, agent: str, method: str, exc: BaseException) -> None:
        super().__init__(f"agent {agent!r}: {method} raised {type(exc).__name__}: {exc} "
                         f"(fix the agent; run with --debug for its traceback)")


def describe_fault(exc: BaseException) -> str | None:
    """One line naming the real cause of an OS or SQLite fault (disk full, read-only or denied,
    a folder where a file belongs, a damaged database), the file involved and the fix; no SQL
    text. None: not such a fault. Every command's errors reach the user through this."""
    import errno
    import sqlite3

    text = str(exc)
    if type(exc).__module__.startswith("pandas") and "Execution failed on sql" in text:
        text = text.rsplit(": ", 1)[-1]  # pandas quotes the whole query before the cause: keep the cause
        exc = sqlite3.DatabaseError(text)
    if isinstance(exc, sqlite3.Error):
        low = text.lower()
        if "disk is full" in low or "disk full" in low:
            return "the results database's disk is full; free space on that disk or pass --db with a file on another disk"
        if "readonly" in low.replace(" ", "") or "read-only" in low:
            return f"the results database is read-only ({text}); make it writable or pass --db with a writable file"
        if "unable to open" in low:
            return f"cannot open the results database ({text}); check that its folder exists and is writable, or pass another --db"
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) or \
                any(w in low for w in ("malformed", "not a database", "corrupt")):
            return (f"the results database is damaged or not a database ({text}); restore it from a backup, "
                    "or pass --db with another file")
        return f"the results database cannot be used ({text}); pass --db with another file"
    if isinstance(exc, OSError):
        where = exc.filename or "a file"
        if exc.errno == errno.ENOSPC:
            return f"the disk is full: cannot write {where}; free space on that disk or choose a path on another one"
        if exc.errno == errno.EROFS:
            return f"{where} is on a read-only filesystem; choose a writable path"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"permission denied for {where}; fix its permissions or choose another path"
        if isinstance(exc, IsADirectoryError):
            return f"{where} is a folder, not a file; pass a file path"
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            return f"cannot create {where}: part of the path is a file, not a folder; choose another path"
        if isinstance(exc, FileNotFoundError):
            return f"{where} does not exist; check the path"
        return f"cannot use {where}: {exc.strerror or text}; choose another path"
    return None
