"""Consoles of the CLI: the terminal's width when interactive, 140 columns when piped."""

from __future__ import annotations

import sys

from rich.console import Console

PIPED_WIDTH = 140


def make_console(*, stderr: bool = False) -> Console:
    """Return a rich Console that does not squeeze tables into 80 columns when piped."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PIPED_WIDTH)
