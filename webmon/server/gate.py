"""Refusing a request before Bokeh answers it: the base of the dashboard's request gates.

Every Bokeh page, session and websocket handler (and the dashboard's own routes, see
``handlers.py``) awaits the server's ``AuthProvider.get_user_async`` in ``prepare()``, before
it answers or upgrades a websocket.  A gate is an ``AuthProvider`` whose hook raises 403 for
a request its :meth:`RequestGate.admits` refuses.  Two exist: ``proxy_gate.py`` (behind an
authenticating proxy) and ``host_gate.py`` (served on loopback).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bokeh.server.auth_provider import AuthProvider
from tornado.web import HTTPError, RequestHandler


class RequestGate(AuthProvider):
    """Bokeh auth hooks admitting only the requests :meth:`admits` accepts."""

    #: The reason sent with the 403.
    reason = "refused"

    def admits(self, handler: RequestHandler) -> bool:
        raise NotImplementedError

    @property
    def get_user_async(self) -> Callable[[RequestHandler], Awaitable[str]]:
        async def get_user(handler: RequestHandler) -> str:
            if not self.admits(handler):
                raise HTTPError(403, reason=self.reason)
            return "admitted"

        return get_user

    @property
    def get_login_url(self) -> Callable[[RequestHandler], str]:
        # Never reached (get_user_async refuses first); Bokeh requires a login hook.
        def login_url(handler: RequestHandler) -> str:
            raise HTTPError(403, reason=self.reason)

        return login_url
