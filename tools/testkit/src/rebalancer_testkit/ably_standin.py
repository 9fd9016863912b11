"""A local Ably stand-in: a real TLS server speaking enough of Ably's protocol for the real SDK.

The notifier's tests point the real ``ably`` SDK (``AblyRealtime``, ``AblyRest``) at this
server instead of Ably: no internet here, and no mock of anybody's code. It implements what
ably 3.1.4 sends and expects, read from its source (``ably/transport/websockettransport.py``,
``ably/realtime/connectionmanager.py``, ``ably/realtime/channel.py``, ``ably/http/http.py``,
``ably/rest/channel.py``, ``ably/types/message.py``) and from Ably's protocol definition and
features spec (github.com/ably/specification: ``specifications/protocol.md`` and
``specifications/features.md``; spec points cited below), with Ably's error codes
(github.com/ably/ably-common ``protocol/errors.json``).

Realtime (one WebSocket per connection, ``wss://host:port/?key=...&v=...&format=...``):

* Query string (RTN2): ``key`` (RTN2e; a token, ``accessToken``, is refused: not implemented),
  ``v`` (RTN2f; required), ``format`` ``json`` or ``msgpack`` (RTN2a; the SDK's default is
  msgpack: binary frames), ``echo`` (RTN2b, default true), ``heartbeats`` (RTN23b), ``resume``
  (RTN15b1). A missing/unknown/wrong key gets an ``ERROR`` (action 9) with Ably's code and the
  socket is closed (RTN14a, RTN15j): 40101/401 for a wrong secret or no key, 40400/404 for an
  unknown app or key name, 40005/400 for a malformed key; a missing ``v`` gets 40017.
* ``CONNECTED`` (4) with ``connectionId``, ``connectionKey`` and ``connectionDetails``
  (``connectionKey``, ``maxIdleInterval``, ``connectionStateTtl``, ``maxMessageSize``, ...).
  A resume of a known connection keeps its ``connectionId`` (RTN15c6); an unknown or expired
  one gets a new id and error 80008 (RTN15c7).
* ``HEARTBEAT`` (0): sent every ``max_idle_interval_ms`` unless ``heartbeats=false`` (RTN23);
  a client's HEARTBEAT (a ping, RTN13) is echoed with its ``id``.
* ``ATTACH`` (10) → ``ATTACHED`` (11) with the channel's ``channelSerial``. An ATTACH carrying a
  ``channelSerial`` this server issued (RTL4c1, RTL15b) is a resume: ``ATTACHED`` has the
  RESUMED flag (TR4i) and the messages published since that serial follow; an unknown serial
  (after :meth:`AblyStandin.forget_connections`) attaches without RESUMED and without backlog.
  ``DETACH`` (12) → ``DETACHED`` (13).
* ``MESSAGE`` (15) from a client: each message gets ``id`` ``<connectionId>:<msgSerial>:<index>``
  (TM2a), ``timestamp`` and ``connectionId``; it is stored in the channel's history, sent to
  every connection attached to the channel (not back to its publisher with ``echo=false``),
  and acknowledged with ``ACK`` (1) ``{msgSerial, count: 1, res: [{serials}]}`` (RTN7a, RTN7b).
* ``CLOSE`` (7) → ``CLOSED`` (8), then the socket closes and the connection state is gone.
* Anything else (PRESENCE, AUTH, OBJECT...) is answered with an ``ERROR`` 40000 naming it.

REST (same host and port, HTTP/1.1, ``Authorization: Basic`` of the key, RSA2/RSA11; JSON or
msgpack by ``Accept``): ``GET /channels/<name>/messages`` (RSL2: ``start``, ``end``,
``direction``, ``limit``; further pages through ``Link: <./messages?...>; rel="next"``) and
``GET /time``. Errors are Ably's ``{"error": {"message", "code", "statusCode"}}`` with the
``X-Ably-Errorcode`` header; Basic auth over plain HTTP is refused with 40103.

Test controls: :meth:`AblyStandin.publish` (a message from "another client"),
:meth:`drop_connections` (abort every socket without a close frame, as a dead network does;
connection state is kept so the SDK can resume), :meth:`stall_connections` (keep the sockets
open but send nothing: a half-open connection the SDK must detect by its idle timer, RTN23a),
:meth:`forget_connections` (connection and channel continuity lost, as after
``connectionStateTtl``), :meth:`outage` (every request answered 503 until it ends), plus what
was received: :attr:`frames`, :attr:`rest_requests`,
:meth:`history_of`, :meth:`attached`.

Not implemented: token auth and ``requestToken``, REST publish (the WebSocket library's HTTP
parser takes no request bodies), presence, annotations, objects, capabilities (every key may
do everything), channel options/params, deltas, encryption, ``recover``, Comet, fallback hosts,
``DISCONNECTED`` from the server, rate limits, ``maxMessageSize`` enforcement.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import msgpack
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

# Protocol message actions (protocol.md "Actions"; ably/transport/websockettransport.py).
HEARTBEAT, ACK, NACK, CONNECT, CONNECTED, DISCONNECT, DISCONNECTED = 0, 1, 2, 3, 4, 5, 6
CLOSE, CLOSED, ERROR, ATTACH, ATTACHED, DETACH, DETACHED = 7, 8, 9, 10, 11, 12, 13
PRESENCE, MESSAGE, SYNC, AUTH = 14, 15, 16, 17
ACTION_NAMES = {
    HEARTBEAT: "HEARTBEAT", ACK: "ACK", NACK: "NACK", CONNECT: "CONNECT",
    CONNECTED: "CONNECTED", DISCONNECT: "DISCONNECT", DISCONNECTED: "DISCONNECTED",
    CLOSE: "CLOSE", CLOSED: "CLOSED", ERROR: "ERROR", ATTACH: "ATTACH", ATTACHED: "ATTACHED",
    DETACH: "DETACH", DETACHED: "DETACHED", PRESENCE: "PRESENCE", MESSAGE: "MESSAGE",
    SYNC: "SYNC", AUTH: "AUTH",
}  # fmt: skip
# ATTACHED flags (TR4i; ably/types/flags.py).
RESUMED = 1 << 2

PROTOCOL_VERSIONS = {"2", "3", "4", "5"}


def ably_error(code: int, status: int, message: str) -> dict[str, Any]:
    """An ErrorInfo as Ably sends it."""
    return {
        "code": code,
        "statusCode": status,
        "message": message,
        "href": f"https://help.ably.io/error/{code}",
    }


@dataclass
class StoredMessage:
    """A message as the stand-in keeps it: data as received (bytes decoded from base64)."""

    seq: int
    id: str
    name: str | None
    data: Any
    encoding: str
    timestamp: int
    connection_id: str | None
    client_id: str | None = None
    extras: Any = None

    def wire(self, fmt: str) -> dict[str, Any]:
        """Encode for a client using ``fmt`` (binary data is base64 in JSON, RSL4)."""
        data, encoding = self.data, self.encoding
        if isinstance(data, (bytes, bytearray)) and fmt == "json":
            data = base64.b64encode(bytes(data)).decode("ascii")
            encoding = f"{encoding}/base64" if encoding else "base64"
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "data": data,
            "encoding": encoding or None,
            "timestamp": self.timestamp,
            "connectionId": self.connection_id,
            "clientId": self.client_id,
            "extras": self.extras,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass
class Channel:
    """A channel's history (every message, in order) and its continuity epoch."""

    name: str
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    messages: list[StoredMessage] = field(default_factory=list)

    def serial(self) -> str:
        return f"{self.epoch}:{len(self.messages)}"

    def since_serial(self, serial: str | None) -> list[StoredMessage] | None:
        """Messages after ``serial``, or None when this serial is not resumable here."""
        if not serial or ":" not in serial:
            return None
        epoch, _, seq = serial.partition(":")
        if epoch != self.epoch or not seq.isdigit() or int(seq) > len(self.messages):
            return None
        return self.messages[int(seq) :]


@dataclass
class Connection:
    """Server-side state of one realtime connection (it outlives a dropped socket)."""

    id: str
    key: str
    key_name: str
    fmt: str = "json"
    echo: bool = True
    heartbeats: bool = True
    socket: ServerConnection | None = None
    stalled: bool = False
    attached: set[str] = field(default_factory=set)


@dataclass
class Frame:
    """A protocol message the stand-in received (for assertions)."""

    connection_id: str
    message: dict[str, Any]

    @property
    def action(self) -> str:
        return ACTION_NAMES.get(self.message.get("action", -1), str(self.message.get("action")))


class AblyStandin:
    """A local Ably: ``await AblyStandin(tmp_path).start()``; ``endpoint`` and ``key`` to use.

    ``keys`` maps key names (``<app id>.<key id>``) to secrets. With ``tls`` (the default, as
    Ably), the server certificate is issued by a throwaway CA written to :attr:`ca_file`: a
    client trusts it with ``SSL_CERT_FILE`` (read by httpx and by Python's default SSL context,
    which the SDK's WebSocket uses).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        keys: dict[str, str] | None = None,
        tls: bool = True,
        max_idle_interval_ms: int = 15_000,
        connection_state_ttl_ms: int = 120_000,
        page_limit_max: int = 1000,
    ) -> None:
        self.workdir = workdir
        self.keys = keys or {"standin-app.testkey": secrets.token_urlsafe(18)}
        self.tls = tls
        self.max_idle_interval_ms = max_idle_interval_ms
        self.connection_state_ttl_ms = connection_state_ttl_ms
        self.page_limit_max = page_limit_max
        self.channels: dict[str, Channel] = {}
        self.connections: dict[str, Connection] = {}
        self.frames: list[Frame] = []
        self.rest_requests: list[dict[str, Any]] = []
        self.connects: list[dict[str, str]] = []  # query of each WebSocket opened (key masked)
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.ca_file: Path | None = None
        self.available = True

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> AblyStandin:
        context = self._tls_context() if self.tls else None
        self._server = await serve(
            self._serve_socket,
            "127.0.0.1",
            0,
            ssl=context,
            process_request=self._process_request,
            ping_interval=None,  # liveness is the protocol's HEARTBEAT (RTN23)
            max_size=2**20,
        )
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            for conn in self.connections.values():
                if conn.socket is not None and conn.socket.transport is not None:
                    conn.socket.transport.abort()
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def _tls_context(self) -> ssl.SSLContext:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.workdir / "ably-standin-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stand-in first"
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def key(self) -> str:
        """The first key, as ``<app id>.<key id>:<secret>`` (what a user copies from Ably)."""
        name, secret = next(iter(self.keys.items()))
        return f"{name}:{secret}"

    # ------------------------------------------------------------------ test controls

    async def publish(
        self, channel: str, name: str | None, data: Any, *, encoding: str = ""
    ) -> StoredMessage:
        """Publish as another client would (a dict or list is sent JSON-encoded, RSL4)."""
        if isinstance(data, (dict, list)):
            data, encoding = json.dumps(data), (f"{encoding}/json" if encoding else "json")
        base = secrets.token_urlsafe(9)
        [stored] = await self._accept(
            channel, None, [{"name": name, "data": data, "encoding": encoding}], f"{base}:0"
        )
        return stored

    async def drop_connections(self) -> int:
        """Abort every socket (no close frame, no CLOSE): the SDK sees a dead transport."""
        dropped = 0
        for conn in self.connections.values():
            sock = conn.socket
            if sock is not None and sock.transport is not None:
                sock.transport.abort()
                dropped += 1
            conn.socket = None
        return dropped

    async def outage(self, down: bool = True) -> None:
        """While down, every request (WebSocket or REST) gets HTTP 503; open sockets drop."""
        self.available = not down
        if down:
            await self.drop_connections()

    def stall_connections(self) -> None:
        """Send nothing more on the open sockets (and ignore what comes): a half-open TCP."""
        for conn in self.connections.values():
            if conn.socket is not None:
                conn.stalled = True

    def forget_connections(self) -> None:
        """Lose every connection's state and every channel's continuity (as after the TTL)."""
        self.connections.clear()
        for channel in self.channels.values():
            channel.epoch = secrets.token_hex(4)

    def history_of(self, channel: str) -> list[StoredMessage]:
        return list(self._channel(channel).messages)

    def attached(self, channel: str) -> list[str]:
        """Ids of the connections attached to ``channel`` with a live socket."""
        return [
            c.id
            for c in self.connections.values()
            if channel in c.attached and c.socket is not None and not c.stalled
        ]

    def frames_of(self, action: str, channel: str | None = None) -> list[dict[str, Any]]:
        return [
            f.message
            for f in self.frames
            if f.action == action and (channel is None or f.message.get("channel") == channel)
        ]

    def decoded(self, message: StoredMessage) -> Any:
        """The message's data decoded as the SDK would (json, base64)."""
        data = message.data
        for step in reversed([s for s in message.encoding.split("/") if s]):
            if step == "json":
                data = json.loads(data)
            elif step == "base64" and isinstance(data, str):
                data = base64.b64decode(data)
        return data

    # ------------------------------------------------------------------ keys

    def _check_key(self, key: str | None) -> tuple[str, dict[str, Any] | None]:
        """Return (key name, None) or (_, Ably error) for a key presented by a client."""
        if not key:
            return "", ably_error(40101, 401, "No authentication information provided")
        name, sep, secret = key.partition(":")
        if not sep or "." not in name or not secret:
            return "", ably_error(40005, 400, "Invalid key format; expected <app>.<key>:<secret>")
        app = name.split(".", 1)[0]
        if name not in self.keys:
            known_apps = {k.split(".", 1)[0] for k in self.keys}
            if app not in known_apps:
                return "", ably_error(40400, 404, f"No application found with id {app}")
            return "", ably_error(40400, 404, f"Key {name} not found")
        if not secrets.compare_digest(secret, self.keys[name]):
            return "", ably_error(40101, 401, "Invalid credentials: key secret does not match")
        return name, None

    # ------------------------------------------------------------------ realtime

    def _refusal(self, query: dict[str, str]) -> tuple[str, dict[str, Any] | None]:
        """Check a connection request: (key name, None) or ("", the error Ably would send)."""
        if "accessToken" in query:
            return "", ably_error(40140, 401, "Token auth is not implemented by the Ably stand-in")
        key_name, error = self._check_key(query.get("key"))
        if error is not None:
            return "", error
        if query.get("v") not in PROTOCOL_VERSIONS:
            return "", ably_error(40017, 400, f"Unsupported protocol version {query.get('v')!r}")
        return key_name, None

    def _connection_for(
        self, resume: str | None, key_name: str
    ) -> tuple[Connection, dict[str, Any] | None]:
        """Resume the connection ``resume`` names, else open a new one (with 80008 if it could
        not be resumed)."""
        if resume:
            conn = next((c for c in self.connections.values() if c.key == resume), None)
            if conn is not None and conn.key_name == key_name:
                if conn.socket is not None and conn.socket.transport is not None:
                    conn.socket.transport.abort()  # a resume supersedes the old transport
                # The client re-attaches each channel with its channelSerial (RTN15c6, RTL4c1):
                # what it missed is sent after that ATTACHED, not also live before it.
                conn.attached.clear()
                return conn, None
        conn_id = secrets.token_urlsafe(8).replace("-", "x").replace("_", "y")
        conn = Connection(id=conn_id, key=f"{conn_id}!{secrets.token_hex(6)}", key_name=key_name)
        self.connections[conn.id] = conn
        if resume:
            return conn, ably_error(80008, 400, "Unable to recover connection: connection expired")
        return conn, None

    async def _serve_socket(self, ws: ServerConnection) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(ws.request.path).query).items()}  # type: ignore[union-attr]
        fmt = query.get("format", "json")
        self.connects.append({k: ("***" if k == "key" else v) for k, v in query.items()})
        if fmt not in ("json", "msgpack"):
            await self._fail(ws, "json", ably_error(40000, 400, f"Unsupported format {fmt!r}"))
            return
        key_name, error = self._refusal(query)
        if error is not None:
            await self._fail(ws, fmt, error)
            return
        conn, resume_error = self._connection_for(query.get("resume"), key_name)
        conn.fmt = fmt
        conn.echo = query.get("echo", "true") != "false"
        conn.heartbeats = query.get("heartbeats", "true") != "false"
        conn.socket = ws
        conn.stalled = False
        connected: dict[str, Any] = {
            "action": CONNECTED,
            "connectionId": conn.id,
            "connectionKey": conn.key,
            "connectionDetails": {
                "clientId": query.get("clientId"),
                "connectionKey": conn.key,
                "maxIdleInterval": self.max_idle_interval_ms,
                "connectionStateTtl": self.connection_state_ttl_ms,
                "maxMessageSize": 65536,
                "maxFrameSize": 524288,
                "maxInboundRate": 250,
                "serverId": "ably-standin",
            },
        }
        if resume_error:
            connected["error"] = resume_error
        await self._send(conn, ws, connected)
        beat = asyncio.create_task(self._heartbeat(conn, ws))
        try:
            async for raw in ws:
                if conn.stalled or conn.socket is not ws:
                    continue
                message = msgpack.unpackb(raw, raw=False) if fmt == "msgpack" else json.loads(raw)
                self.frames.append(Frame(conn.id, message))
                if await self._on_frame(conn, ws, message) == "closed":
                    break
        except ConnectionClosed:
            pass
        finally:
            beat.cancel()
            if conn.socket is ws:
                conn.socket = None

    async def _on_frame(self, conn: Connection, ws: ServerConnection, msg: dict[str, Any]) -> str:
        action = msg.get("action")
        channel_name = msg.get("channel")
        if action == HEARTBEAT:
            reply: dict[str, Any] = {"action": HEARTBEAT}
            if msg.get("id") is not None:
                reply["id"] = msg["id"]
            await self._send(conn, ws, reply)
        elif action == ATTACH and channel_name:
            channel = self._channel(channel_name)
            backlog = channel.since_serial(msg.get("channelSerial"))
            conn.attached.add(channel_name)
            attached: dict[str, Any] = {
                "action": ATTACHED,
                "channel": channel_name,
                "channelSerial": channel.serial(),
                "flags": RESUMED if backlog is not None else 0,
            }
            await self._send(conn, ws, attached)
            for stored in backlog or []:
                await self._deliver(conn, channel, stored)
        elif action == DETACH and channel_name:
            conn.attached.discard(channel_name)
            await self._send(conn, ws, {"action": DETACHED, "channel": channel_name})
        elif action == MESSAGE and channel_name:
            serial = int(msg.get("msgSerial", 0))
            accepted = await self._accept(
                channel_name, conn, list(msg.get("messages") or []), f"{conn.id}:{serial}"
            )
            await self._send(
                conn,
                ws,
                {
                    "action": ACK,
                    "msgSerial": serial,
                    "count": 1,
                    "res": [{"serials": [f"{s.seq:016d}" for s in accepted]}],
                },
            )
        elif action == CLOSE:
            await self._send(conn, ws, {"action": CLOSED})
            self.connections.pop(conn.id, None)
            conn.socket = None
            await ws.close()
            return "closed"
        else:
            name = ACTION_NAMES.get(action, str(action))  # type: ignore[arg-type]
            error: dict[str, Any] = {
                "action": ERROR,
                "error": ably_error(40000, 400, f"{name} is not implemented by the Ably stand-in"),
            }
            if channel_name:
                error["channel"] = channel_name
            await self._send(conn, ws, error)
        return "ok"

    async def _accept(
        self,
        channel_name: str,
        publisher: Connection | None,
        messages: list[dict[str, Any]],
        proto_id: str,
    ) -> list[StoredMessage]:
        channel = self._channel(channel_name)
        now = int(time.time() * 1000)
        stored = []
        for index, m in enumerate(messages):
            data, encoding = m.get("data"), str(m.get("encoding") or "")
            if isinstance(data, str) and encoding.split("/")[-1] == "base64":
                data = base64.b64decode(data)
                encoding = "/".join(encoding.split("/")[:-1])
            item = StoredMessage(
                seq=len(channel.messages) + 1,
                id=str(m.get("id") or f"{proto_id}:{index}"),
                name=m.get("name"),
                data=data,
                encoding=encoding,
                timestamp=now,
                connection_id=publisher.id if publisher else None,
                client_id=m.get("clientId"),
                extras=m.get("extras"),
            )
            channel.messages.append(item)
            stored.append(item)
        for conn in list(self.connections.values()):
            if channel_name not in conn.attached:
                continue
            if conn is publisher and not conn.echo:
                continue
            for item in stored:
                await self._deliver(conn, channel, item)
        return stored

    async def _deliver(self, conn: Connection, channel: Channel, item: StoredMessage) -> None:
        if conn.socket is None:
            return  # the message waits in history; a resume's ATTACH replays it
        await self._send(
            conn,
            conn.socket,
            {
                "action": MESSAGE,
                "channel": channel.name,
                "channelSerial": f"{channel.epoch}:{item.seq}",
                "id": item.id.rsplit(":", 1)[0],
                "connectionId": item.connection_id,
                "timestamp": item.timestamp,
                "messages": [item.wire(conn.fmt)],
            },
        )

    async def _send(self, conn: Connection, ws: ServerConnection, msg: dict[str, Any]) -> None:
        if conn.stalled:
            return
        clean = {k: v for k, v in msg.items() if v is not None}
        payload: str | bytes = (
            msgpack.packb(clean, use_bin_type=True) if conn.fmt == "msgpack" else json.dumps(clean)
        )
        with contextlib.suppress(ConnectionClosed):
            await ws.send(payload)

    async def _fail(self, ws: ServerConnection, fmt: str, error: dict[str, Any]) -> None:
        """Refuse a connection as Ably does: an ERROR protocol message, then close."""
        msg = {"action": ERROR, "error": error}
        payload = msgpack.packb(msg, use_bin_type=True) if fmt == "msgpack" else json.dumps(msg)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(payload)
            await ws.close()

    async def _heartbeat(self, conn: Connection, ws: ServerConnection) -> None:
        if not conn.heartbeats:
            return
        while True:
            await asyncio.sleep(self.max_idle_interval_ms / 1000 / 2)
            if conn.socket is not ws:
                return
            await self._send(conn, ws, {"action": HEARTBEAT})

    def _channel(self, name: str) -> Channel:
        if name not in self.channels:
            self.channels[name] = Channel(name)
        return self.channels[name]

    # ------------------------------------------------------------------ REST

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        url = urlsplit(request.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        accept = request.headers.get("Accept", "application/json")
        binary = accept.startswith("application/x-msgpack")
        if not upgrade:
            self.rest_requests.append(
                {
                    "path": url.path,
                    "params": params,
                    "accept": accept,
                    "authorization": request.headers.get("Authorization", "").split(" ")[0],
                    "available": self.available,
                }
            )
        if not self.available:
            error = ably_error(50310, 503, "Service unavailable (the stand-in's outage)")
            return self._respond(ws, 503, {"error": error}, binary)
        if upgrade:
            return None  # the realtime handshake
        if url.path == "/time":
            return self._respond(ws, 200, [int(time.time() * 1000)], binary)
        if not self.tls:
            error = ably_error(40103, 401, "Invalid use of Basic auth over non-TLS transport")
            return self._respond(ws, 401, {"error": error}, binary)
        _, refused = self._check_key(_basic_key(request.headers.get("Authorization", "")))
        if refused is not None:
            return self._respond(ws, refused["statusCode"], {"error": refused}, binary)
        parts = url.path.split("/")
        if len(parts) == 4 and parts[1] == "channels" and parts[3] == "messages":
            return self._history(ws, unquote_plus(parts[2]), params, binary)
        error = ably_error(40400, 404, f"No route {url.path} in the Ably stand-in")
        return self._respond(ws, 404, {"error": error}, binary)

    def _history(
        self, ws: ServerConnection, channel_name: str, params: dict[str, str], binary: bool
    ) -> Response:
        try:
            start = int(params.get("start", 0))
            end = int(params.get("end", 2**62))
            limit = int(params.get("limit", 100))
            cursor = int(params.get("cursor", -1))
        except ValueError as exc:
            error = ably_error(40003, 400, f"Invalid parameter value: {exc}")
            return self._respond(ws, 400, {"error": error}, binary)
        direction = params.get("direction", "backwards")
        if direction not in ("forwards", "backwards") or not 0 < limit <= self.page_limit_max:
            error = ably_error(40003, 400, "Invalid parameter value: direction or limit")
            return self._respond(ws, 400, {"error": error}, binary)
        if start > end:
            error = ably_error(40003, 400, "Invalid parameter value: start is after end")
            return self._respond(ws, 400, {"error": error}, binary)
        items = [m for m in self._channel(channel_name).messages if start <= m.timestamp <= end]
        if direction == "backwards":
            items.reverse()
        if cursor >= 0:
            items = [
                m
                for m in items
                if (m.seq >= cursor if direction == "forwards" else m.seq <= cursor)
            ]
        page, rest = items[:limit], items[limit:]
        headers = {}
        if rest:
            next_query = urlencode({**params, "cursor": rest[0].seq})
            headers["Link"] = f'<./messages?{next_query}>; rel="next"'
        fmt = "msgpack" if binary else "json"
        return self._respond(ws, 200, [m.wire(fmt) for m in page], binary, headers)

    def _respond(
        self,
        ws: ServerConnection,
        status: int,
        body: Any,
        binary: bool,
        headers: dict[str, str] | None = None,
    ) -> Response:
        response = ws.respond(status, "")
        payload = msgpack.packb(body, use_bin_type=True) if binary else json.dumps(body).encode()
        response.body = payload
        del response.headers["Content-Length"]
        del response.headers["Content-Type"]
        response.headers["Content-Length"] = str(len(payload))
        response.headers["Content-Type"] = (
            "application/x-msgpack" if binary else "application/json; charset=utf-8"
        )
        if status >= 400 and isinstance(body, dict) and "error" in body:
            response.headers["X-Ably-Errorcode"] = str(body["error"]["code"])
            response.headers["X-Ably-Errormessage"] = body["error"]["message"]
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response


def realtime_client(standin: AblyStandin, **options: Any) -> Any:
    """A real SDK client pointed at the stand-in (a test's publisher or subscriber).

    Build it inside the running event loop, with ``SSL_CERT_FILE`` set to ``standin.ca_file``.
    """
    from ably import AblyRealtime

    return AblyRealtime(
        standin.key, endpoint=f"{standin.host}:{standin.port}", fallback_hosts=[], **options
    )


def rest_client(standin: AblyStandin, key: str | None = None, **options: Any) -> Any:
    """A real SDK REST client pointed at the stand-in (its port goes in ``tls_port``)."""
    from ably import AblyRest

    return AblyRest(
        key or standin.key,
        endpoint=standin.host,
        tls_port=standin.port,
        fallback_hosts=[],
        **options,
    )


def _basic_key(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        return base64.b64decode(value).decode()
    except ValueError:
        return None
