"""Templates (Jinja2, autoescaped) and the filters that format money, ratios and times."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

DASH = "-"
NOTICES = {
    "approve_sent": "Approval sent: the executor places the orders; this page follows them.",
    "cancel_sent": "Cancel sent.",
    "halt_sent": "Halt sent: open orders are cancelled and new plans refused until resumed.",
    "resume_sent": "Resume sent: plans may execute again.",
    "logged_out": "Logged out.",
}
"""What a page says after an action (by code: no text from the URL reaches the page)."""


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: Any) -> str:
    number = _decimal(value)
    return DASH if number is None else f"{number:,.2f}"


def qty(value: Any) -> str:
    number = _decimal(value)
    return DASH if number is None else f"{number.normalize():f}"


def pct(value: Any) -> str:
    """A ratio already in percent (the planner's drift rows) with two decimals."""
    number = _decimal(value)
    return DASH if number is None else f"{number:.2f}%"


def when(value: Any) -> str:
    if value is None or value == "":
        return DASH
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


class Renderer:
    """Render the console's templates."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("console", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(money=money, qty=qty, pct=pct, when=when)
        self.env.globals["notices"] = NOTICES

    def render(self, template: str, **values: Any) -> str:
        layout = "fragment.html" if values.get("fragment") else "base.html"
        return str(self.env.get_template(template).render(layout=layout, **values))
