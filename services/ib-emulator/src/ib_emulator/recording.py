"""Recordings of TWS API traffic: one JSON line per message, and their redaction.

A recording starts with a header line, then one line per message either way::

    {"recording": "tws-api", "format": 1, "redacted": ["accounts", "amounts"], ...}
    {"t": 0.004, "conn": 1, "dir": "to_server", "id": null, "name": "handshake",
     "fields": ["v157..176"]}
    {"t": 0.006, "conn": 1, "dir": "to_client", "id": null, "name": "serverVersion", ...}
    {"t": 0.007, "conn": 1, "dir": "to_server", "id": 71, "name": "startApi", ...}

``fields`` are the message's NUL-separated fields as text, the message id first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .messages import reply_name, request_name

FORMAT = 1
Direction = Literal["to_server", "to_client"]
REDACTIONS = ("accounts", "amounts")

# Account codes as IB issues them: U/DU (individual, paper), F/DF (advisor), I/DI (broker).
ACCOUNT_CODE = re.compile(r"^(?:D?[UFI])\d{4,}$")
ALIAS_FORMAT = "DU{:07d}"

# Reply fields holding the account's money or holdings, by message id (field positions).
AMOUNT_FIELDS: dict[int, tuple[int, ...]] = {
    6: (3,),  # updateAccountValue: value
    7: (13, 14, 15, 16, 17, 18),  # updatePortfolio: position .. realizedPNL
    59: (3, 5),  # commissionReport: commission, realizedPNL
    61: (14, 15),  # position: position, avgCost
    63: (5,),  # accountSummary: value
    73: (6,),  # accountUpdateMulti: value
    94: (2, 3, 4),  # pnl
    95: (2, 3, 4, 5, 6),  # pnlSingle
}


@dataclass(frozen=True)
class Message:
    """One recorded message."""

    t: float
    conn: int
    dir: Direction
    id: int | None
    name: str
    fields: list[str]

    def to_json(self) -> str:
        """The recording's line for this message."""
        return json.dumps(
            {"t": round(self.t, 4), "conn": self.conn, "dir": self.dir, "id": self.id,
             "name": self.name, "fields": self.fields},
            ensure_ascii=False,
        )  # fmt: skip


def message(t: float, conn: int, direction: Direction, fields: list[str], first: bool) -> Message:
    """A Message from decoded fields; ``first`` marks the handshake frame of each side."""
    if first:
        name = "handshake" if direction == "to_server" else "serverVersion"
        return Message(t, conn, direction, None, name, fields)
    try:
        msg_id: int | None = int(fields[0])
    except (ValueError, IndexError):
        msg_id = None
    if msg_id is None:
        name = "unreadable"
    else:
        name = request_name(msg_id) if direction == "to_server" else reply_name(msg_id)
    return Message(t, conn, direction, msg_id, name, fields)


class Redactor:
    """Replaces account codes by stable aliases and, optionally, amounts by zero."""

    def __init__(self, accounts: bool = True, amounts: bool = True) -> None:
        self.accounts = accounts
        self.amounts = amounts
        self.aliases: dict[str, str] = {}

    @property
    def applied(self) -> list[str]:
        """Which redactions are on, for the header."""
        return [n for n, on in (("accounts", self.accounts), ("amounts", self.amounts)) if on]

    def alias(self, account: str) -> str:
        """The stable alias of an account code (the first one seen is DU0000001)."""
        if account not in self.aliases:
            self.aliases[account] = ALIAS_FORMAT.format(len(self.aliases) + 1)
        return self.aliases[account]

    def learn(self, accounts: Iterable[str]) -> None:
        """Accounts to hide wherever they appear (from managedAccounts)."""
        for a in accounts:
            if a:
                self.alias(a)

    def __call__(self, m: Message) -> Message:
        """The message with what is private replaced."""
        fields = list(m.fields)
        if self.accounts:
            if m.dir == "to_client" and m.id == 15 and len(fields) > 2:
                self.learn(fields[2].split(","))
            fields = [self._accounts_in(f) for f in fields]
        if self.amounts and m.dir == "to_client" and m.id in AMOUNT_FIELDS:
            for i in AMOUNT_FIELDS[m.id]:
                if i < len(fields) and _is_number(fields[i]):
                    fields[i] = "0"
        return Message(m.t, m.conn, m.dir, m.id, m.name, fields)

    def _accounts_in(self, text: str) -> str:
        if not text:
            return text
        if ACCOUNT_CODE.match(text):
            return self.alias(text)
        if "," in text and all(ACCOUNT_CODE.match(p) for p in text.split(",") if p):
            return ",".join(self.alias(p) if p else p for p in text.split(","))
        for account, alias in self.aliases.items():
            if account in text:
                text = text.replace(account, alias)
        return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def header(redactor: Redactor, **info: object) -> str:
    """The first line of a recording."""
    return json.dumps(
        {"recording": "tws-api", "format": FORMAT, "redacted": redactor.applied, **info}
    )


def read_recording(path: str | Path) -> tuple[dict[str, object], list[Message]]:
    """The header and the messages of a recording file."""
    head: dict[str, object] = {}
    messages: list[Message] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not a JSON line: {exc}") from None
        if "recording" in row:
            head = row
            continue
        try:
            messages.append(
                Message(float(row["t"]), int(row["conn"]), row["dir"], row["id"], row["name"],
                        [str(f) for f in row["fields"]])
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: not a recorded message ({exc})") from None
    return head, messages


def write_lines(path: str | Path, lines: Iterator[str]) -> None:
    """Write lines to a file (used by tests that build recordings)."""
    Path(path).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
