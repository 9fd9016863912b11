"""Incoming TWS requests: a cursor over the fields and parsers for the long ones.

The layouts follow ib_async's client.py at server version 176. Anything a parser cannot
read raises ``MalformedRequest``, which the session turns into an IB error message.
"""

from __future__ import annotations

import builtins
import re
from decimal import Decimal, InvalidOperation

from .orders import ContractQuery, OrderRequest

UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INTEGER = 2**31 - 1


TRUE_TEXT = frozenset({"1", "true", "True"})
FALSE_TEXT = frozenset({"", "0", "false", "False"})


class MalformedRequest(ValueError):
    """The request's fields do not match the layout its message id promises."""


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character(fields: list[str]) -> tuple[int, str] | None:
    """The first field holding a control character, as (index, field), or None.

    TWS fields are NUL-terminated, so a NUL inside a string arrives as an extra field
    and shifts every field after it; other control characters have no place in the
    protocol either. IB's own client refuses such strings before sending (error 579,
    "Invalid symbol in string"); tab, CR and LF are the exceptions it allows.
    """
    if not _CONTROL.search("\t".join(fields)):  # one scan for the common, clean case
        return None
    return next((i, f) for i, f in enumerate(fields) if _CONTROL.search(f))


class FieldReader:
    """Read fields one by one, converting as TWS does (empty means unset)."""

    def __init__(self, fields: list[str], start: int = 1) -> None:
        self.fields = fields
        self.pos = start

    def str(self) -> str:
        """Next field as text."""
        if self.pos >= len(self.fields):
            raise MalformedRequest(f"message ended after {len(self.fields)} fields")
        value = self.fields[self.pos]
        self.pos += 1
        return value

    def int(self, default: int = 0) -> int:
        """Next field as an integer (empty: default)."""
        raw = self.str()
        if raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            try:
                return int(float(raw))
            except ValueError:
                raise MalformedRequest(
                    f"field {self.pos - 1}: expected an integer, got {raw!r}"
                ) from None

    def decimal(self) -> Decimal | None:
        """Next field as a Decimal (empty or IB's unset double: None)."""
        raw = self.str()
        if raw == "":
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise MalformedRequest(
                f"field {self.pos - 1}: expected a number, got {raw!r}"
            ) from None
        if not value.is_finite() or value >= Decimal(UNSET_DOUBLE) * Decimal("0.99"):
            return None
        return value

    def bool(self) -> bool:
        """Next field as a flag; anything but 0/1 means the fields are shifted."""
        raw = self.str()
        if raw in TRUE_TEXT:
            return True
        if raw in FALSE_TEXT:
            return False
        raise MalformedRequest(f"field {self.pos - 1}: expected a flag (0 or 1), got {raw!r}")

    def expect(self, kinds: builtins.str) -> None:
        """Skip fields, checking each is of its kind: s text, e empty, i integer, f number,
        b flag. A shifted request (a NUL inside a string) rarely survives this."""
        for kind in kinds:
            if kind == "s":
                self.str()
            elif kind == "e":
                raw = self.str()
                if raw:
                    raise MalformedRequest(f"field {self.pos - 1}: expected empty, got {raw!r}")
            elif kind == "i":
                self.int()
            elif kind == "f":
                self.decimal()
            else:
                self.bool()

    def skip(self, n: builtins.int) -> None:
        """Skip fields we do not act on."""
        for _ in range(n):
            self.str()

    def remaining(self) -> builtins.int:
        """How many fields are left."""
        return len(self.fields) - self.pos

    def end(self) -> None:
        """The layout is read: extra fields mean a string held a NUL and shifted the rest."""
        extra = self.remaining()
        if extra:
            raise MalformedRequest(
                f"{extra} field(s) more than the layout has (a NUL inside a string field?)"
            )


def read_contract(r: FieldReader) -> ContractQuery:
    """The 12-field contract block client.py sends (conId .. tradingClass)."""
    con_id = r.int()
    symbol = r.str()
    sec_type = r.str()
    r.skip(4)  # lastTradeDateOrContractMonth, strike, right, multiplier
    exchange = r.str()
    primary = r.str()
    currency = r.str()
    local_symbol = r.str()
    r.skip(1)  # tradingClass
    return ContractQuery(con_id, symbol, sec_type, exchange, primary, currency, local_symbol)


def parse_place_order(fields: list[str], client_id: int, server_version: int) -> OrderRequest:
    """placeOrder (id 3) as the TWS clients write it, up to server version 176."""
    r = FieldReader(fields)
    order_id = r.int()
    contract = read_contract(r)
    r.expect("ss")  # secIdType, secId
    action = r.str()
    qty = r.decimal()
    order_type = r.str()
    lmt = r.decimal()
    aux = r.decimal()
    tif = r.str() or "DAY"
    r.expect("s")  # ocaGroup
    account = r.str()
    r.expect("si")  # openClose, origin
    order_ref = r.str()
    transmit = r.bool()
    parent_id = r.int()
    r.expect("bbii")  # blockOrder, sweepToFill, displaySize, triggerMethod
    outside_rth = r.bool()
    r.expect("b")  # hidden
    unsupported = ""
    if contract.sec_type == "BAG":
        unsupported = "combo (BAG) orders are not emulated"
        return _request(order_id, client_id, contract, action, qty, order_type, lmt, aux, tif,
                        account, order_ref, transmit, parent_id, outside_rth, "", (), False,
                        unsupported)  # fmt: skip
    _skip_middle(r)
    algo, params = _read_algo(r)
    r.expect("s")  # algoId
    what_if = r.bool()
    r.expect("sbbb")  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if order_type.upper() in ("PEG BENCH", "PEGBENCH"):
        r.skip(5)
    cash_qty: Decimal | None = None
    if r.int() > 0:
        # Conditions have a layout per type; the order is refused, so stop reading here.
        unsupported = "order conditions are not emulated"
    else:
        cash_qty = _read_tail(r, contract, order_type.upper(), server_version)
    if parent_id:
        unsupported = unsupported or "bracket / child orders are not emulated"
    return _request(order_id, client_id, contract, action, qty, order_type, lmt, aux, tif,
                    account, order_ref, transmit, parent_id, outside_rth, algo, params,
                    what_if, unsupported, cash_qty)  # fmt: skip


HEDGE_TYPES = frozenset({"", "D", "B", "F", "P", "PAIR"})


def _skip_middle(r: FieldReader) -> None:
    """From the deprecated sharesAllocation to the delta neutral contract: nothing we use,
    but each field's kind is checked (the first, always empty, catches most shifts)."""
    r.expect("efss")  # "", discretionaryAmt, goodAfterTime, goodTillDate
    r.expect("ssss")  # faGroup, faMethod, faPercentage, faProfile (server < 177)
    r.expect("sisiissbifbbf")  # modelCode .. nbboPriceCap
    r.expect("ifffffbfi")  # auctionStrategy .. volatilityType
    dn_type = r.str()
    r.expect("f")  # deltaNeutralAuxPrice
    if dn_type:
        r.expect("issssbis")
    r.expect("biffii")  # continuousUpdate .. scaleSubsLevelSize
    increment = r.decimal()  # scalePriceIncrement
    if increment is not None and increment > 0:
        r.expect("fifbiib")
    r.expect("sss")  # scaleTable, activeStartTime, activeStopTime
    hedge = r.str()
    if hedge not in HEDGE_TYPES:
        raise MalformedRequest(f"field {r.pos - 1}: {hedge!r} is not a hedge type")
    if hedge:
        r.expect("s")
    r.expect("bssb")  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if r.bool():  # delta neutral contract
        r.expect("iff")


def _read_algo(r: FieldReader) -> tuple[str, tuple[tuple[str, str], ...]]:
    algo = r.str()
    params: list[tuple[str, str]] = []
    if algo:
        for _ in range(r.int()):
            params.append((r.str(), r.str()))
    return algo, tuple(params)


def _read_tail(
    r: FieldReader, contract: ContractQuery, order_type: str, version: int
) -> Decimal | None:
    """The fields after the conditions, version gates included, to the exact end; returns
    the order's cashQty."""
    r.expect("sfffffisss")  # adjustedOrderType .. softDollarTier value
    cash_qty = r.decimal()
    r.expect("ssssbbbb")  # mifid2 decision maker .. usePriceMgmtAlgo
    # duration, postToAts, autoCancelParent, advancedErrorOverride, manualOrderTime
    for gate, kind in ((158, "i"), (160, "i"), (162, "b"), (166, "s"), (169, "s")):
        if version >= gate:
            r.expect(kind)
    if version >= 170:
        if contract.exchange == "IBKRATS":
            r.skip(1)  # minTradeQty
        if order_type in ("PEG BEST", "PEGBEST", "PEG MID", "PEGMID"):
            # A pegged order is refused (387); its variable tail is not worth reading.
            return cash_qty
    r.end()
    return cash_qty if cash_qty is not None and cash_qty > 0 else None


def _request(
    order_id: int,
    client_id: int,
    contract: ContractQuery,
    action: str,
    qty: Decimal | None,
    order_type: str,
    lmt: Decimal | None,
    aux: Decimal | None,
    tif: str,
    account: str,
    order_ref: str,
    transmit: bool,
    parent_id: int,
    outside_rth: bool,
    algo: str,
    params: tuple[tuple[str, str], ...],
    what_if: bool,
    unsupported: str,
    cash_qty: Decimal | None = None,
) -> OrderRequest:
    return OrderRequest(
        order_id=order_id,
        client_id=client_id,
        contract=contract,
        action=action.upper(),
        total_quantity=qty if qty is not None else Decimal(0),
        order_type=order_type.upper(),
        lmt_price=lmt,
        aux_price=aux,
        tif=tif.upper(),
        account=account,
        order_ref=order_ref,
        transmit=transmit,
        parent_id=parent_id,
        outside_rth=outside_rth,
        algo_strategy=algo,
        algo_params=params,
        what_if=what_if,
        unsupported=unsupported,
        cash_qty=cash_qty,
    )
