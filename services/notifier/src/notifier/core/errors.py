"""The business "no" of the notifier's edges and sources, with a stable code."""

from __future__ import annotations


class Refusal(Exception):
    """A trigger or a source refused: ``code`` is a metric label, ``message`` a sentence."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
