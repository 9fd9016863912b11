"""What an import produces: accounts with their options, each saying where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from rebalancer_cli.importing.yaml_out import Entry, Scalar, document


class ImportError_(ValueError):
    """The source cannot be imported; the message says what is wrong and what to do."""


@dataclass
class Draft:
    """One account of the accounts file being written."""

    id: str
    origin: str
    approval: tuple[str, str] = ("dry_run", "")
    default: bool = False
    groups: list[str] = field(default_factory=list)
    allocation: list[Entry] = field(default_factory=list)
    triggers: list[Entry] = field(default_factory=list)
    planning: list[Entry] = field(default_factory=list)
    execution: list[Entry] = field(default_factory=list)

    def entries(self) -> list[Entry]:
        out = [Entry("id", self.id, self.origin)]
        if self.groups:
            out.append(Entry("groups", list[Scalar](self.groups), "for `--group`"))
        out.append(Entry("approval", self.approval[0], self.approval[1]))
        for key, part in (
            ("allocation", self.allocation),
            ("triggers", self.triggers),
            ("planning", self.planning),
            ("execution", self.execution),
        ):
            if part:
                out.append(Entry(key, part))
        return out


@dataclass
class Imported:
    """The accounts file to write, and everything the user should read about it."""

    source: str
    accounts: list[Draft]
    planning: list[Entry] = field(default_factory=list)
    execution: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Options not translated: unknown ones, and known ones with no equivalent here."""
    notes: list[str] = field(default_factory=list)
    """Where an option went elsewhere (an environment variable, a command-line flag)."""

    def text(self) -> str:
        header = [
            f"Accounts file written by `rebalancer import` from {self.source}.",
            "Each option says where it came from; see docs/migrating.md and docs/accounts.md.",
            "Check it with `rebalancer rebalance --config <this file>` (a dry run by default).",
        ]
        if self.notes:
            header += ["", "Set elsewhere:", *(f"  {n}" for n in self.notes)]
        if self.warnings:
            header += ["", "Not translated (warnings):", *(f"  {w}" for w in self.warnings)]
        entries: list[Entry] = []
        defaults = [
            Entry(k, v)
            for k, v in (("planning", self.planning), ("execution", self.execution))
            if v
        ]
        if defaults:
            entries.append(Entry("defaults", list[Entry](defaults), "applied to every account"))
        default = next((a for a in self.accounts if a.default), None)
        if default is not None:
            entries.append(
                Entry(
                    "default_account",
                    default.id,
                    "used by `rebalancer rebalance` when no account is named",
                )
            )
        entries.append(Entry("accounts", [a.entries() for a in self.accounts]))
        return document(header, entries)
