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
