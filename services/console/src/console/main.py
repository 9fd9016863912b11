"""Entry point of the console: ``create_app`` is the one place where dependencies are chosen."""

from __future__ import annotations

import sys

from console.backends import Ledger, NotifierApi
from console.core.state import ConsoleState
from console.live import Hub
from console.server import WebServer
from console.sessions import RedisSessions
from console.settings import ConsoleSettings
from console.web.app import create_web
from console.web.context import Console
from console.web.render import Renderer
from shared.accounts import AccountsFileError, accounts_from_env
from shared.kit.rpc import RpcClient
from shared.kit.service import Service


class ConsoleService:
    """The console's parts, exposed for tests."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.service = Service(settings)
        self.rpc = RpcClient(self.service.redis, self.service.publisher)
        self.hub = Hub(self.service.redis, ConsoleState(), settings.seed_entries)
        self.api = NotifierApi(settings.api_url, settings.api_token, settings.api_timeout_s)
        self.console = Console(
            settings=settings,
            accounts=accounts_from_env(),
            api=self.api,
            ledger=Ledger(self.rpc, settings.ledger_timeout_s),
            hub=self.hub,
            sessions=RedisSessions(self.service.redis, settings.session_ttl_s),
            renderer=Renderer(),
        )
        self.web = WebServer(create_web(self.console), settings.http_host, settings.http_port)
        self.service.add_health_check("streams", self._following)
        self.service.after_startup(self._start)
        self.service.on_shutdown(self._stop)

    async def _following(self) -> bool | str:
        return True if self.hub.following else "not following the streams yet"

    async def _start(self) -> None:
        await self.hub.seed()
        self.service.background(self.hub.follow(), "follow-streams")
        await self.web.start()

    async def _stop(self) -> None:
        await self.web.stop()
        await self.api.close()
        await self.rpc.close()


def create_app(settings: ConsoleSettings | None = None) -> ConsoleService:
    """Build the console service (the web server starts with the service)."""
    return ConsoleService(settings or ConsoleSettings())


def run() -> None:
    """Run the console until SIGINT/SIGTERM."""
    try:
        app = create_app()
    except AccountsFileError as error:
        print(f"console: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if app.settings.api_token is None:
        print(
            "console: CONSOLE_API_TOKEN is not set: every login is refused until it is "
            "(the notifier's NOTIFIER_API_TOKEN)",
            file=sys.stderr,
        )
    app.service.serve_forever()
