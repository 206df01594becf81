"""The base of the typed errors library code raises for an operator to act on.

A library function (quota sweep, export, bucket layout, ...) raises a subclass with a one-line
message that names what failed and never holds a secret; the CLI layer (`scripts/cli.py`) turns it
into `<script>: error: <message>` and an exit code. Library code never raises the CLI's own errors.
"""

from __future__ import annotations


class OperationError(Exception):
    """An operation could not be done; the message is for the operator, one line, no secrets."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Refused(OperationError):
    """The operation was refused on purpose (a tenant's state, a safety rule), not a failure."""
