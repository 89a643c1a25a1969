"""Errors a user can fix. The CLI prints them as one line (no traceback) and exits with 2.

Every error whose message names the fix derives from :class:`UserError`.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input (name, file, config, agent output...); the message says how to fix it."""


class SuiteError(UserError, ValueError):
    """A suite file or a suite/task name is wrong; the message names the fix."""
