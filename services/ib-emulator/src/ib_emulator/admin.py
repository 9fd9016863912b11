"""Admin HTTP API (JSON): state, orders, prices and fault injection.

A deliberately small HTTP/1.1 handler on asyncio streams: one request per connection,
JSON in and out, no framework.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Protocol

from .faults import Faults
from .limits import Limits
from .market import Quote

log = logging.getLogger("ib_emulator.admin")

Json = dict[str, Any]


class Administered(Protocol):
    """What the admin API drives: the emulator's control surface."""

    faults: Faults
    limits: Limits
    account_update_period: float

    def state(self) -> dict[str, object]: ...

    def orders(self) -> list[dict[str, object]]: ...

    def set_price(
        self,
        symbol: str,
        *,
        last: Decimal | float | str | None = None,
        bid: Decimal | float | str | None = None,
        ask: Decimal | float | str | None = None,
        move_pct: Decimal | float | str | None = None,
    ) -> Quote: ...

    def set_account_update_period(self, seconds: float) -> None: ...


class HttpError(Exception):
    """An error answer with a status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _num(body: Json, key: str, default: float | None = None) -> float:
    value = body.get(key, default)
    if value is None:
        raise HttpError(400, f"'{key}' is required")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise HttpError(400, f"'{key}' must be a number, got {value!r}") from None


class AdminServer:
    """Serves the admin routes for one Emulator."""

    def __init__(self, emulator: Administered, host: str, port: int) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self.routes: dict[tuple[str, str], Callable[[Json], Any]] = {
            ("GET", "/state"): lambda b: emulator.state(),
            ("GET", "/orders"): lambda b: {"orders": emulator.orders()},
            ("GET", "/faults"): lambda b: emulator.faults.snapshot(),
            ("POST", "/prices"): self._prices,
            ("POST", "/faults/drop-connections"): lambda b: {
                "dropped": emulator.faults.drop_connections()
            },
            ("POST", "/faults/connectivity-lost"): self._connectivity,
            ("POST", "/faults/refuse-connections"): self._refuse,
            ("POST", "/faults/reject-orders"): self._reject,
            ("POST", "/faults/hold-fills"): self._hold,
            ("POST", "/faults/partial-fills"): self._partial,
            ("POST", "/faults/lag-account-values"): self._lag,
            ("POST", "/faults/ack-delay"): self._ack_delay,
            ("POST", "/faults/pacing"): self._pacing,
            ("POST", "/faults/nan-prices"): self._nan,
            ("POST", "/faults/competing-session"): lambda b: {
                "notified": emulator.faults.competing_session()
            },
            ("POST", "/faults/reset"): self._reset,
            ("GET", "/limits"): lambda b: emulator.limits.snapshot(),
            ("POST", "/limits"): self._limits,
            ("GET", "/settings"): lambda b: self._settings_now(),
            ("POST", "/settings"): self._settings,
        }

    async def start(self) -> int:
        """Listen; return the bound port."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        port: int = self._server.sockets[0].getsockname()[1]
        log.info("admin API on http://%s:%s", self.host, port)
        return port

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ------------------------------------------------------------- routes
    def _prices(self, body: Json) -> Json:
        updates = body.get("prices") if "prices" in body else [body]
        if not isinstance(updates, list) or not updates:
            raise HttpError(
                400,
                "expected {'symbol': ..., 'last'|'bid'/'ask'|'move_pct': ...} or {'prices': [...]}",
            )
        out = {}
        for u in updates:
            if not isinstance(u, dict) or "symbol" not in u:
                raise HttpError(400, "each price update needs a 'symbol'")
            keys = {k: u[k] for k in ("last", "bid", "ask", "move_pct") if u.get(k) is not None}
            if not keys:
                raise HttpError(400, f"{u['symbol']}: give 'last', 'bid'/'ask' or 'move_pct'")
            try:
                q = self.emulator.set_price(str(u["symbol"]), **keys)
            except KeyError as exc:
                raise HttpError(404, str(exc.args[0])) from None
            except (ValueError, ArithmeticError) as exc:
                raise HttpError(400, f"{u['symbol']}: {exc}") from None
            out[q.symbol] = {"bid": str(q.bid), "ask": str(q.ask), "last": str(q.last)}
        return {"prices": out}

    def _connectivity(self, body: Json) -> Json:
        code = int(_num(body, "restore_code", 1102))
        try:
            self.emulator.faults.connectivity_lost(_num(body, "restore_after", 1.0), code)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return {"ok": True}

    def _refuse(self, body: Json) -> Json:
        self.emulator.faults.refuse_connections(_num(body, "seconds"))
        return {"ok": True}

    def _reject(self, body: Json) -> Json:
        try:
            self.emulator.faults.reject_next(
                int(_num(body, "count", 1)),
                code=int(_num(body, "code", 201)),
                reason=str(body.get("reason", "Rejected by fault injection")),
                mode=body.get("mode", "reject"),
            )
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return self.emulator.faults.snapshot()

    def _hold(self, body: Json) -> Json:
        self.emulator.faults.hold_fills(bool(body.get("enabled", True)))
        return self.emulator.faults.snapshot()

    def _lag(self, body: Json) -> Json:
        self.emulator.faults.lag_account_values(bool(body.get("enabled", True)))
        return self.emulator.faults.snapshot()

    def _partial(self, body: Json) -> Json:
        fraction = body.get("fraction")
        try:
            self.emulator.faults.partial_fills(None if fraction is None else float(fraction))
        except (TypeError, ValueError) as exc:
            raise HttpError(400, str(exc)) from None
        return self.emulator.faults.snapshot()

    def _ack_delay(self, body: Json) -> Json:
        try:
            self.emulator.faults.delay_acks(_num(body, "seconds"))
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return self.emulator.faults.snapshot()

    def _pacing(self, body: Json) -> Json:
        self.emulator.faults.pacing(
            bool(body.get("enabled", True)),
            limit=int(_num(body, "limit", 50)),
            max_violations=int(_num(body, "max_violations", 3)),
        )
        return self.emulator.faults.snapshot()

    def _nan(self, body: Json) -> Json:
        self.emulator.faults.nan_prices(bool(body.get("enabled", True)))
        return self.emulator.faults.snapshot()

    def _reset(self, body: Json) -> Json:
        self.emulator.faults.reset()
        return self.emulator.faults.snapshot()

    def _limits(self, body: Json) -> Json:
        known = {"market_data_lines", "orders_per_contract_side", "snapshot_seconds"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise HttpError(400, f"unknown limit(s) {unknown}; known: {sorted(known)}")
        try:
            self.emulator.limits.update(**body)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return self.emulator.limits.snapshot()

    def _settings_now(self) -> Json:
        return {"account_update_period_seconds": self.emulator.account_update_period}

    def _settings(self, body: Json) -> Json:
        unknown = sorted(set(body) - {"account_update_period_seconds"})
        if unknown:
            raise HttpError(400, f"unknown setting(s) {unknown}")
        if "account_update_period_seconds" in body:
            try:
                self.emulator.set_account_update_period(_num(body, "account_update_period_seconds"))
            except ValueError as exc:
                raise HttpError(400, str(exc)) from None
        return self._settings_now()

    # --------------------------------------------------------------- HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, payload = await self._respond(reader)
        except Exception:
            log.exception("admin request failed")
            status, payload = 500, {"error": "internal error"}
        body = json.dumps(payload, indent=1).encode()
        reason = HTTPStatus(status).phrase
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            method, target, _ = request_line.split(" ", 2)
        except ValueError:
            return 400, {"error": "malformed request line"}
        length = 0
        while True:
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip() or 0)
        raw = await reader.readexactly(length) if length else b""
        path = target.split("?", 1)[0].rstrip("/") or "/"
        route = self.routes.get((method.upper(), path))
        if route is None:
            known = sorted(f"{m} {p}" for m, p in self.routes)
            return 404, {"error": f"no route {method} {path}", "routes": known}
        try:
            body = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            return 400, {"error": f"body is not JSON: {exc}"}
        if not isinstance(body, dict):
            return 400, {"error": "body must be a JSON object"}
        try:
            return 200, route(body)
        except HttpError as exc:
            return exc.status, {"error": exc.message}
