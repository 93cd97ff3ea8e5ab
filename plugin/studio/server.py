"""The studio's web server: one page, its static files and a WebSocket at ``/ws``.

aiohttp serves HTTP and WebSocket from one small, well-kept package with no other server to
run (Starlette would need uvicorn besides; ``websockets`` alone serves no page). It runs in its
own thread with its own asyncio loop, so nothing here ever runs on the audio thread: control
messages go to :class:`~.page.Page` (which hands changes to the shared control hub), and the
other threads reach the sockets only through ``call_soon_threadsafe``.

Control messages (echoes, transport, errors) are JSON text frames and are all delivered;
picture frames are binary and are dropped for a browser still busy with the previous one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path

from aiohttp import WSMsgType, web

from ...dsp.errors import PansliceError
from .guard import Guard

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("panslice.studio")


class WebError(PansliceError):
    """The studio server cannot start (port taken, bad host)."""


def dumps(msg: dict) -> str:
    """JSON for the page; -inf (a gain's silence) is sent as the string "-inf"."""
    return json.dumps(msg, allow_nan=False, default=str)


class _Client:
    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.busy = False  # a picture frame is still on its way


class WebServer:
    """``handler`` answers one decoded JSON message from a client: ``handler(msg, reply)``
    where ``reply(dict)`` answers that client only; ``hello()`` gives the first message."""

    def __init__(self, host: str, port: int, token: str | None, handler, hello):
        self.host, self.port, self.token = host, port, token
        self.guard = Guard(host, token)
        self.handler, self.hello = handler, hello
        self.clients: set[_Client] = set()
        self.frames_sent = self.frames_dropped = 0
        self.refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="panslice-web", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "WebServer":
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise WebError(f"cannot serve the studio on {self.host}:{self.port} ({self._error})")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._socket)
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
        runner = web.AppRunner(app, access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
        except (OSError, OverflowError) as e:
            self._error = getattr(e, "strerror", None) or e
            self._ready.set()
            loop.run_until_complete(runner.cleanup())
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for c in list(self.clients):
                loop.run_until_complete(c.ws.close())
            loop.run_until_complete(runner.cleanup())
            loop.close()

    # -- HTTP -----------------------------------------------------------------------------------
    def _refusal(self, request: web.Request, websocket: bool) -> web.Response | None:
        why = self.guard.check(request.headers.get("Host"), request.headers.get("Origin"),
                               request.query.get("token"), websocket)
        if why is None:
            return None
        self.refused += 1
        log.warning("panslice: studio: refused %s %s: %s", request.method, request.path, why)
        return web.Response(status=403, text=f"panslice studio: {why}\n")

    async def _index(self, request: web.Request) -> web.StreamResponse:
        refused = self._refusal(request, websocket=False)
        if refused is not None:
            return refused
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        refused = self._refusal(request, websocket=True)
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=1 << 16)
        await ws.prepare(request)
        client = _Client(ws)
        self.clients.add(client)
        try:
            await ws.send_str(dumps(self.hello()))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._answer(msg.data, client)
        finally:
            self.clients.discard(client)
        return ws

    def _answer(self, text: str, client: _Client) -> None:
        def reply(m: dict) -> None:
            self._send_text(client, dumps(m))
        try:
            msg = json.loads(text)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except ValueError:
            reply({"t": "error", "text": "not a JSON object"})
            return
        try:
            self.handler(msg, reply)
        except PansliceError as e:
            reply({"t": "error", "text": str(e), "about": msg.get("t")})
        except Exception as e:  # a bug of ours must not end the page's control of the show
            log.exception("panslice: studio: internal error on %r", msg.get("t"))
            reply({"t": "error", "text": f"internal error ({type(e).__name__})"})

    # -- outgoing (any thread) ------------------------------------------------------------------
    def broadcast(self, msg: dict) -> None:
        """Send ``msg`` to every page (from any thread)."""
        if self._loop is not None and self.clients:
            text = dumps(msg)
            self._loop.call_soon_threadsafe(self._send_all, text)

    def frame(self, data: bytes) -> None:
        """Offer a picture frame to every page (from any thread); a busy page skips it."""
        if self._loop is not None and self.clients:
            self._loop.call_soon_threadsafe(self._send_frame, data)

    def _send_all(self, text: str) -> None:
        for c in list(self.clients):
            self._send_text(c, text)

    def _send_text(self, client: _Client, text: str) -> None:
        if not client.ws.closed:
            asyncio.ensure_future(self._text_to(client, text))

    @staticmethod
    async def _text_to(client: _Client, text: str) -> None:
        try:
            await client.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass  # the page went away; it asks for the whole state when it comes back

    def _send_frame(self, data: bytes) -> None:
        for c in list(self.clients):
            if c.busy or c.ws.closed:
                self.frames_dropped += 1
                continue
            c.busy = True
            asyncio.ensure_future(self._frame_to(c, data))

    async def _frame_to(self, client: _Client, data: bytes) -> None:
        try:
            await client.ws.send_bytes(data)
            self.frames_sent += 1
        except (ConnectionError, RuntimeError):
            pass
        finally:
            client.busy = False
