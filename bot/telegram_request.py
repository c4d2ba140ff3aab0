"""PTB's HTTP backend on aiohttp instead of httpx: the same request, a fraction of the CPU.

Why it exists
-------------
Every answer the bot gives is one ``sendMessage``, and the CPU spent per answer caps how many
questions a core can answer. Measured against the fake Bot API server (another process), PTB's
``Bot.send_message`` with an inline keyboard cost, per call, in the client process:

=====================  ==================  ==================
concurrent calls       HTTPXRequest        aiohttp (this)
=====================  ==================  ==================
30 (like handlers)     3.6–5.2 ms CPU      0.7–0.9 ms CPU
1                      1.8–2.1 ms CPU      1.0–1.2 ms CPU
=====================  ==================  ==================

(sniffio installed in both cases; PTB's own work, e.g. parsing the returned Message, included.)
httpcore's connection pool checks every idle connection's socket on each request, so its cost
grows with the number of connections in use; aiohttp's does not. The bot already depends on
aiohttp for its web server (bot/web.py).

Behaviour, as :class:`telegram.request.HTTPXRequest`
--------------------------------------------------
* Parameters go form-urlencoded (nested values as JSON strings), files as ``multipart/form-data``
  with the other parameters as form fields, the same bytes httpx sends.
* Timeouts raise :class:`telegram.error.TimedOut` (a full pool says the request was *not* sent),
  connection failures :class:`telegram.error.NetworkError`: PTB's retries, the rate limiter and
  the outbox (bot/outbox_sender.py) rely on those types. ``DEFAULT_NONE`` arguments take the
  instance's defaults; uploads default to ``media_write_timeout`` for writing.
* Proxies: ``proxy=`` or, like httpx, the ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY``
  environment (read once per host, not per request). CA certificates: certifi's, like httpx.

Differences
-----------
* aiohttp has no write timeout. Small bodies (every non-upload call) are handed to the socket
  at once and never wait; an upload's whole exchange, up to the response headers, is bounded by
  one deadline of connect + write + read timeouts instead of per socket write. The bot uploads
  reports of a few KB; a multi-megabyte upload on a slow link needs a larger
  ``media_write_timeout``.
* No ``http_version`` (HTTP/1.1 only), ``socket_options`` or ``httpx_kwargs``.
* Error messages never carry the request URL's token (``/bot<token>/...``); nothing here logs.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
import urllib.request
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram. Consider adjusting the connection "
    "pool size or the pool timeout."
)
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_NO_PROXY = object()  # cache marker: this origin goes direct


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx, which PTB requires
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _token_part(url: str) -> str | None:
    """The ``bot<token>`` segment of a Bot API (or file) URL."""
    for segment in url.partition("://")[2].split("/")[1:]:
        if segment.startswith("bot"):
            return segment
    return None


def _scrubbed(err: BaseException, url: str) -> tuple[str, BaseException | None]:
    """``err``'s message without the token, and the cause to chain (None if anything in its
    chain mentions the token: a traceback would print it)."""
    text = f"aiohttp.{err.__class__.__name__}: {err}"
    secret = _token_part(url)
    if not secret:
        return text, err
    cause: BaseException | None = err
    seen: BaseException | None = err
    for _ in range(8):
        if seen is None:
            break
        if secret in str(seen) or secret in repr(seen.args):
            cause = None
            break
        seen = seen.__cause__ or seen.__context__
    return text.replace(secret, "bot<token>"), cause


class AiohttpRequest(BaseRequest):
    """:class:`telegram.request.BaseRequest` on one :class:`aiohttp.ClientSession`.

    Args (as :class:`telegram.request.HTTPXRequest`'s): connection_pool_size (most requests at
    once; more wait up to ``pool_timeout``), read_timeout, write_timeout, connect_timeout,
    pool_timeout, media_write_timeout (write timeout of uploads), proxy (an ``http://`` URL;
    default: the environment's).
    """

    __slots__ = (
        "_closed",
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxies",
        "_proxy",
        "_read_timeout",
        "_session",
        "_slots",
        "_timeouts",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        proxy: str | None = None,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False  # shut down: requests fail until initialize() again
        # aiohttp's ClientTimeout per (connect, read) pair, and the proxy per URL origin.
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self._proxies: dict[str, Any] = {}

    @property
    def read_timeout(self) -> float | None:
        """See :attr:`BaseRequest.read_timeout`: the default read timeout in seconds."""
        return self._read_timeout

    def _open(self) -> aiohttp.ClientSession:
        # No connector limit: the semaphore is the pool (its wait is the pool timeout, told
        # apart from the connect timeout), and at most pool-size connections are ever open.
        connector = aiohttp.TCPConnector(limit=0, ssl=_ssl_context())
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self._slots = asyncio.Semaphore(self._pool_size)
        self._closed = False
        return self._session

    async def initialize(self) -> None:
        """See :meth:`BaseRequest.initialize`."""
        if self._session is None or self._session.closed:
            self._open()

    async def shutdown(self) -> None:
        """See :meth:`BaseRequest.shutdown`."""
        session, self._session = self._session, None
        self._closed = True
        if session is not None and not session.closed:
            await session.close()

    def _timeout(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        key = (connect, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            # connect: getting a connection (DNS, TCP, TLS); sock_read: between received chunks,
            # counted from the end of the upload.
            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)
            if len(self._timeouts) < 64:
                self._timeouts[key] = timeout
        return timeout

    def _proxy_for(self, url: str) -> Any:
        if self._proxy is not None:
            return self._proxy
        end = url.find("/", url.find("://") + 3)
        origin = url if end < 0 else url[:end]
        proxy = self._proxies.get(origin)
        if proxy is None:
            proxy = _env_proxy(origin)
            self._proxies[origin] = proxy
        return None if proxy is _NO_PROXY else proxy

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See :meth:`BaseRequest.do_request`."""
        session = self._session
        if session is None or session.closed:
            if self._closed:
                raise RuntimeError("This AiohttpRequest is not initialized!")
            session = self._open()  # used without initialize(), as HTTPXRequest allows
        slots = self._slots
        assert slots is not None

        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout

        data: Any = None
        headers: dict[str, str] | None = None
        deadline: float | None = None
        files = request_data.multipart_data if request_data is not None else None
        if files:
            if isinstance(write_timeout, DefaultValue):
                write_timeout = self._media_write_timeout
            form = aiohttp.FormData(quote_fields=False)  # names as httpx sends them (UTF-8)
            for name, value in request_data.json_parameters.items():  # type: ignore[union-attr]
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
            if None not in (connect_timeout, write_timeout, read_timeout):
                deadline = connect_timeout + write_timeout + read_timeout  # type: ignore[operator]
        elif request_data is not None:
            body = request_data.url_encoded_parameters()
            if body:
                data = body.encode()
                headers = _FORM

        if slots.locked():
            try:
                async with asyncio.timeout(pool_timeout):
                    await slots.acquire()
            except TimeoutError as err:
                raise TimedOut(message=POOL_TIMEOUT_MESSAGE) from err
        else:
            await slots.acquire()
        try:
            try:
                async with asyncio.timeout(deadline):
                    response = await session.request(
                        method,
                        url,
                        data=data,
                        headers=headers,
                        timeout=self._timeout(connect_timeout, read_timeout),
                        proxy=self._proxy_for(url),
                    )
                try:
                    payload = await response.read()
                finally:
                    response.release()
            except TimeoutError as err:  # aiohttp's connect/read timeouts, or the deadline
                text, cause = _scrubbed(err, url)
                raise TimedOut(text if str(err) else None) from cause
            except (aiohttp.ClientError, OSError) as err:
                text, cause = _scrubbed(err, url)
                raise NetworkError(text) from cause
        finally:
            slots.release()
        return response.status, payload


def _env_proxy(origin: str) -> Any:
    """The environment's proxy for ``scheme://host[:port]``, or ``_NO_PROXY``."""
    parts = urllib.parse.urlsplit(origin)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return _NO_PROXY
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all") or _NO_PROXY
