"""`rebalancer validate`'s rules (shared.checks): one row per kind of problem, each with its
code and its sentence; every problem of a file at once; a valid file has none."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shared.checks import check_accounts_file, check_targets_file, symbols_of

GOOD_CSV = "symbol,weight\nVTI,0.6\nBND,0.4\n"

# (accounts YAML, {file name: content} beside it, expected code, a piece of the sentence)
ACCOUNTS_CASES = [
    ("accounts: [ {id: 'x'\n", {}, "not_yaml", "not valid YAML"),
    ("- just a list\n", {}, "not_a_mapping", "`accounts:` list"),
    ("acounts: []\n", {}, "not_a_mapping", "`accounts:` list"),
    ("accounts: []\nextra: 1\n", {}, "unknown_key", "extra: unknown key"),
    ("accounts:\n  - {id: DU1, aproval: auto}\n", {}, "unknown_key", "account DU1: aproval"),
    ("accounts:\n  - {name: nobody}\n", {}, "missing_key", "account #1: id"),
    ("accounts:\n  - {id: DU1, approval: always}\n", {}, "invalid_value", "approval"),
    ("accounts:\n  - {id: DU1}\n  - {id: DU1}\n", {}, "duplicate_account", "listed twice"),
    (
        "defaults: {planning: {min_order_value: -5}}\naccounts: [{id: DU1}]\n",
        {},
        "invalid_value",
        "defaults.planning.min_order_value",
    ),
    (
        "accounts:\n  - {id: DU1, planning: {no_such_option: 1}}\n",
        {},
        "unknown_key",
        "account DU1: planning.no_such_option",
    ),
    (
        "accounts:\n  - {id: DU1, execution: {max_turnover_pct: -1}}\n",
        {},
        "invalid_value",
        "account DU1: execution.max_turnover_pct",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv, url: 'http://x'}}\n",
        {"p.csv": GOOD_CSV},
        "invalid_value",
        "exactly one of url, csv or targets",
    ),
    (
        "accounts:\n  - id: DU1\n    triggers: {schedules: [{cron: '61 * * * *'}]}\n",
        {},
        "invalid_schedule",
        "'61 * * * *' is not a valid cron",
    ),
    (
        "accounts:\n  - id: DU1\n    triggers: {schedules: [{cron: '0 9 * * 1', timezone: Mars/Base}]}\n",
        {},
        "invalid_timezone",
        "'Mars/Base' is unknown",
    ),
    (
        "accounts: [{id: DU1, groups: [a]}]\n"
        "group_schedules: [{group: b, schedule: {cron: '0 9 * * 1'}}]\n",
        {},
        "unknown_group",
        "group 'b' has no account; known groups: a",
    ),
    ("accounts:\n  - {id: DU1, allocation: {csv: gone.csv}}\n", {}, "unreadable", "gone.csv"),
    (
        "accounts:\n  - id: DU1\n    allocation: {targets: [{symbol: SPY, weight: 0.7}]}\n",
        {},
        "weights_sum",
        "sum to 0.7000, not 1",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n",
        {"p.csv": "symbol,weight\nVTI,1.5\n"},
        "weight_above_one",
        "above 1 (100 %)",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n",
        {"p.csv": "symbol,weight\nVTI,-0.1\nBND,1\n"},
        "weight_negative",
        "below zero",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n",
        {"p.csv": "symbol,weight\nVTI,0.5\nVTI,0.5\n"},
        "duplicate_symbol",
        "VTI is listed more than once",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n",
        {"p.csv": "symbol,weight\n,0.5\nVTI,0.5\n"},
        "invalid_csv",
        "a weight without a symbol",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n",
        {"p.csv": "symbol,weight\nVTI,abc\nBND,1\n"},
        "invalid_csv",
        "weight 'abc' is not a number",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n",
        {"p.csv": "symbol,weight\nVTI,60%\nBND,0.4\n"},
        "invalid_csv",
        "0.4 has no % sign while other rows have one",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n",
        {"p.csv": "symbol,weight\nV$TI,1\n"},
        "invalid_symbol",
        "is not a valid symbol",
    ),
    (
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n",
        {"p.csv": "symbol,weight\n"},
        "empty_target",
        "empty",
    ),
]


@pytest.mark.parametrize(
    ("text", "beside", "code", "said"),
    ACCOUNTS_CASES,
    ids=[c[2] + f"-{i}" for i, c in enumerate(ACCOUNTS_CASES)],
)
def test_each_kind_of_problem_has_its_code_and_a_sentence_naming_the_file_and_place(
    tmp_path: Path, text: str, beside: dict[str, str], code: str, said: str
) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    for name, content in beside.items():
        (tmp_path / name).write_text(content)
    problems = check_accounts_file(path)
    assert [p.code for p in problems] == [code], [str(p) for p in problems]
    sentence = str(problems[0])
    assert said in sentence
    assert str(tmp_path) in sentence  # names the file


def test_every_problem_of_a_file_is_listed_at_once(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("symbol,weight\nVTI,0.7\nVTI,0.2\n,0.1\n")
    path = tmp_path / "accounts.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            accounts:
              - id: DU1
                allocation: {csv: p.csv}
                triggers: {schedules: [{cron: "61 * * * *", timezone: Mars/Base}]}
              - {id: DU2, aproval: auto}
              - id: DU1
              - {id: DU3, allocation: {csv: missing.csv}}
            group_schedules:
              - {group: nobody, schedule: {cron: "0 9 * * 1"}}
            """
        )
    )
    codes = sorted(p.code for p in check_accounts_file(path))
    assert codes == sorted(
        [
            "invalid_schedule",
            "invalid_timezone",
            "invalid_csv",
            "duplicate_symbol",
            "unknown_key",
            "duplicate_account",
            "unreadable",
            "unknown_group",
        ]
    )


def test_a_valid_accounts_file_and_its_portfolios_have_no_problem(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    assert check_accounts_file(root / "deploy" / "demo" / "accounts.yaml") == []
    assert check_accounts_file(root / "deploy" / "accounts.example.yaml") == []


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("t.csv", "symbol,weight\nSPY,0.5\nAGG,0.6\n", "weights_sum"),
        ("t.yaml", "SPY: 0.5\nAGG: 0.5\n", None),
        ("t.yaml", "- {symbol: SPY, allocation: 1.2}\n", "weight_above_one"),
        ("t.yaml", "- {weight: 1}\n", "invalid_targets"),
        ("t.yaml", "42\n", "invalid_targets"),
        ("t.yaml", "SPY: [0.5\n", "not_yaml"),
        ("missing.csv", None, "unreadable"),
    ],
)
def test_a_targets_file_alone(
    tmp_path: Path, name: str, content: str | None, code: str | None
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    problems = check_targets_file(path)
    assert [p.code for p in problems] == ([code] if code else []), [str(p) for p in problems]


def test_the_symbols_to_qualify_come_from_every_portfolio_with_the_files_naming_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "p.csv").write_text("symbol,weight\nvti,0.6\nBND,0.4\nGLD,\n")
    (tmp_path / "accounts.yaml").write_text(
        "accounts:\n  - {id: DU1, allocation: {csv: p.csv}}\n"
        "  - id: DU2\n    allocation: {targets: [{symbol: SPY, weight: 1}]}\n"
    )
    (tmp_path / "t.csv").write_text("symbol,weight\nSPY,1\n")
    found = symbols_of(tmp_path / "accounts.yaml", [tmp_path / "t.csv"])
    assert found == {
        "VTI": [str(tmp_path / "p.csv")],
        "BND": [str(tmp_path / "p.csv")],
        "SPY": [str(tmp_path / "accounts.yaml"), str(tmp_path / "t.csv")],
    }
