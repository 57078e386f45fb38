"""SSRF guard for receiver URLs (webhook, Slack, PagerDuty, Alertmanager ...).

Receiver URLs come from config written by users, so appwatch must not become a
proxy into the network it runs in (cloud metadata, admin ports, the broker ...).
Two layers:

* ``check_url(url)`` / ``Guard.check_url`` at config-validation time: scheme,
  host syntax, user info, IP literals and ``localhost``.  Names are *not*
  resolved here (DNS answers change; see the transport).
* ``GuardedTransport`` at request time: resolves the host, refuses the request
  if ANY resolved address is not public, then connects to the checked IP
  itself, so a DNS answer that changes between check and connect (DNS
  rebinding) cannot redirect the connection.  Every redirect hop a caller
  follows is a new request through the transport, so it is checked again.

Exceptions::

    ValueError
     └── BlockedURL          config time (check_url): bad scheme, no host,
                             user info, private IP literal ...  Fix the config.
    httpx.TransportError
     └── httpx.ConnectError
          └── BlockedAddress  request time: the destination resolved to (or
                              is) a non-public address, or a redirect hop went
                              to a scheme that is not allowed.  PERMANENT: do
                              not retry (``retryable = False``).  It subclasses
                              ConnectError so callers that only know httpx
                              still treat it as a delivery error; callers with
                              a retry policy must test ``isinstance(err,
                              BlockedAddress)`` *before* ``httpx.TransportError``.

DNS failures at request time raise a plain ``httpx.ConnectError`` (transient).

How the pinning works (httpx 0.28 / httpcore 1.x): the transport builds a new
``httpx.Request`` whose URL host is the checked IP literal, copies the headers
(httpx already set ``Host: <name>[:port]`` from the original URL when the
request was built) and, for https, sets the ``sni_hostname`` request
extension to the name.  httpcore passes ``sni_hostname`` as ``server_hostname``
to ``ssl.wrap_socket``, so SNI *and* certificate verification still use the
name, not the IP.  The original request object is left untouched, so
``response.request.url`` and redirect resolution still see the name.
Because httpcore pools connections by (scheme, IP, port), the default inner
transport is one ``httpx.AsyncHTTPTransport`` per host name: a TLS
connection verified for one name is never reused for another name that
happens to resolve to the same IP.

Not covered: environment proxies (httpx ignores them when a transport is passed
to the client; keep it that way), ports (any port on a public address is
allowed), and hosts in ``allow_hosts`` (passed through unresolved and unpinned).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore  # noqa: F401 - httpx imports it on the first request, inside the event loop
import httpx

from core.retry import DeliveryError

__all__ = [
    "BlockedAddress",
    "BlockedURL",
    "Guard",
    "GuardedTransport",
    "Resolver",
    "blocked_reason",
    "check_url",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``await resolver(host, port) -> [ip, ...]``; raise ``OSError`` on failure."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not globally reachable (IANA special-purpose registries), yet ``ipaddress`` calls them
# global: 192.0.0.192 is a cloud metadata address (Oracle Cloud's original one).
_NOT_GLOBAL = [
    (ipaddress.ip_network("192.0.0.0/24"), "IETF protocol assignments (192.0.0.192: cloud metadata)"),
    (ipaddress.ip_network("192.88.99.0/24"), "deprecated 6to4 relay anycast"),
    (ipaddress.ip_network("fec0::/10"), "site-local"),
    (ipaddress.ip_network("3fff::/20"), "documentation"),
]
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")
_NUMERIC_PART = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BlockedURL(ValueError):
    """A receiver URL refused at config time (see module docstring)."""


class BlockedAddress(httpx.ConnectError, DeliveryError):
    """A request refused because its destination is not a public address. Do not retry:
    a ``core.retry.DeliveryError`` with ``retryable = False`` (and still an httpx
    ``ConnectError`` for callers that only know httpx)."""

    retryable = False

    def __init__(
        self, message: str, *, request: httpx.Request | None = None, host: str = "", address: str = ""
    ) -> None:
        super().__init__(message, request=request)
        self.host = host
        self.address = address


# ---------------------------------------------------------------------------
# address classification


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _own_reason(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    for net, why in _NOT_GLOBAL:
        if ip.version == net.version and ip in net:
            return why
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.IPv6Network("fc00::/7"):
        return "unique-local"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def blocked_reason(address: str | IPAddress) -> str | None:
    """Why ``address`` must not be connected to, or ``None`` if it is public.

    Loopback, link-local (169.254/16 incl. cloud metadata, fe80::/10), private
    (10/8, 172.16/12, 192.168/16 ...), unique-local (fc00::/7), unspecified,
    multicast, reserved and any other non-global range (100.64/10 ...) are
    blocked; so are IPv6 addresses embedding one of those (IPv4-mapped, 6to4,
    NAT64).  An IPv4-mapped public address is judged as the IPv4 address.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_v4(ip)
        if embedded is not None:
            kind, v4 = embedded
            inner = _own_reason(v4)
            if inner is not None:
                return f"{kind} {inner} ({v4})"
            if kind == "IPv4-mapped":
                return None
    return _own_reason(ip)


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _norm_host(host: str) -> str:
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    h = h.rstrip(".")
    ip = _ip(h)
    if ip is not None:
        return str(ip)
    try:
        return h.encode("idna").decode("ascii") if not h.isascii() else h
    except UnicodeError:
        return h


def _ambiguous_numeric(host: str) -> bool:
    """``2130706433``, ``0x7f.1``, ``0177.0.0.1``: inet_aton forms, not dotted quads."""
    parts = host.split(".")
    return all(_NUMERIC_PART.match(p) for p in parts) and _ip(host) is None


# ---------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class Guard:
    """What the SSRF guard lets through.

    ``allow_hosts``: exact host names or IP literals allowed even if they are
    (or resolve to) private addresses, e.g. ``"127.0.0.1"`` in tests or
    ``"alertmanager.internal"``.  Matching is on the URL host (case-insensitive,
    trailing dot ignored), not on resolved addresses.
    """

    allow_hosts: frozenset[str] = field(default_factory=frozenset)
    allow_schemes: frozenset[str] = frozenset({"http", "https"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_hosts", frozenset(_norm_host(h) for h in self.allow_hosts))
        object.__setattr__(self, "allow_schemes", frozenset(s.lower() for s in self.allow_schemes))

    def check_url(self, url: str | httpx.URL) -> None:
        """Raise ``BlockedURL`` if ``url`` may not be used as a receiver URL."""
        from core.redact import redact_url  # message must not leak tokens in the URL

        raw = str(url)
        shown = redact_url(raw)
        if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in raw) or "\\" in raw:
            raise BlockedURL(f"{shown}: URL contains whitespace, control characters or backslashes")
        try:
            parsed = httpx.URL(raw)
        except httpx.InvalidURL as exc:
            raise BlockedURL(f"{shown}: invalid URL: {exc}") from None
        scheme = parsed.scheme.lower()
        if scheme not in self.allow_schemes:
            allowed = ", ".join(sorted(self.allow_schemes))
            raise BlockedURL(f"{shown}: scheme {scheme or '(none)'!r} is not allowed (allowed: {allowed})")
        if parsed.userinfo:
            raise BlockedURL(
                f"{shown}: user info ('user:password@') is not allowed in receiver URLs; "
                "put credentials in headers or a secret"
            )
        host = parsed.raw_host.decode("ascii")
        if not host:
            raise BlockedURL(f"{shown}: URL has no host")
        norm = _norm_host(host)
        if norm in self.allow_hosts:
            return
        ip = _ip(norm)
        if ip is None:
            if "%" in host or not all(_LABEL.match(p) for p in norm.split(".")):
                raise BlockedURL(f"{shown}: invalid host name {host!r}")
            if _ambiguous_numeric(norm):
                raise BlockedURL(f"{shown}: numeric host {host!r} is not a dotted-quad IP address")
            if norm == "localhost" or norm.endswith(".localhost"):
                raise BlockedURL(f"{shown}: host {host!r} is loopback (add it to allow_hosts to permit it)")
            return
        reason = blocked_reason(ip)
        if reason is not None:
            raise BlockedURL(f"{shown}: address {ip} is {reason} (add it to allow_hosts to permit it)")


def check_url(url: str | httpx.URL, guard: Guard | None = None) -> None:
    """Config-time check with ``guard`` (default: no allowed hosts). Raises ``BlockedURL``."""
    (guard or Guard()).check_url(url)


# ---------------------------------------------------------------------------
# transport


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's ``getaddrinfo``; addresses in resolver order, deduplicated."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that only connects to public addresses (see module docstring).

    ``transport``: the inner transport to send pinned requests through (tests
    pass a ``MockTransport``); by default one ``httpx.AsyncHTTPTransport`` per
    host name, built with ``**transport_kwargs`` (``verify=``, ``retries=`` ...).
    ``resolver``: ``await resolver(host, port) -> [ip, ...]``.
    """

    def __init__(
        self,
        guard: Guard | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        **transport_kwargs: Any,
    ) -> None:
        self.guard = guard or Guard()
        self._inner = transport
        # one TLS context for every host's pool: building one takes 20-40 ms of the event loop
        self._kwargs = {"verify": httpx.create_ssl_context(), **transport_kwargs}
        self._pools: dict[str, httpx.AsyncBaseTransport] = {}
        self._resolve = resolver or system_resolver

    def _transport_for(self, host: str) -> httpx.AsyncBaseTransport:
        if self._inner is not None:
            return self._inner
        pool = self._pools.get(host)
        if pool is None:
            pool = self._pools[host] = httpx.AsyncHTTPTransport(**self._kwargs)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme.lower()
        host = url.raw_host.decode("ascii")
        if scheme not in self.guard.allow_schemes:
            raise BlockedAddress(f"scheme {scheme!r} is not allowed", request=request, host=host)
        if not host:
            raise BlockedAddress("request URL has no host", request=request)
        norm = _norm_host(host)
        if norm in self.guard.allow_hosts:
            return await self._transport_for(norm).handle_async_request(request)

        literal = _ip(norm)
        if literal is not None:
            reason = blocked_reason(literal)
            if reason is not None:
                raise BlockedAddress(f"address {host} is {reason}", request=request, host=host, address=str(literal))
            return await self._transport_for(norm).handle_async_request(request)

        if "%" in host:  # percent-encoded junk httpx kept in the host: never resolve it
            raise BlockedAddress(f"invalid host name {host!r}", request=request, host=host)
        port = url.port or _DEFAULT_PORTS.get(scheme, 443)
        try:
            addresses = list(await self._resolve(host, port))
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
        if not addresses:
            raise httpx.ConnectError(f"cannot resolve {host}: no addresses", request=request)
        for address in addresses:
            ip = _ip(address)
            reason = "not an IP address" if ip is None else blocked_reason(ip)
            if reason is not None:
                raise BlockedAddress(
                    f"{host} resolves to {address}, which is {reason}", request=request, host=host, address=address
                )

        inner = self._transport_for(norm)
        last: httpx.ConnectError | None = None
        for address in addresses:  # all checked; try them in order like a normal client
            try:
                return await inner.handle_async_request(_pinned(request, address, host))
            except httpx.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def _pinned(request: httpx.Request, address: str, host: str) -> httpx.Request:
    """A copy of ``request`` sent to ``address``: same Host header, TLS SNI/verification on ``host``."""
    headers = request.headers.copy()
    if "host" not in headers:
        headers["Host"] = request.url.netloc.decode("ascii")
    extensions = dict(request.extensions)
    if request.url.scheme.lower() == "https":
        extensions.setdefault("sni_hostname", host.rstrip("."))
    return httpx.Request(
        request.method,
        request.url.copy_with(host=address),
        headers=headers,
        stream=request.stream,
        extensions=extensions,
    )


def guarded_client(
    url: str,
    *,
    allow_hosts: Sequence[str] = (),
    timeout: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one way a notifier gets its HTTP client: ``url`` checked now (``BlockedURL``),
    every connection checked when it is made (``GuardedTransport``), redirects never
    followed. ``transport`` replaces the guarded one (unit tests pass a ``MockTransport``);
    the URL is checked either way."""
    guard = Guard(frozenset(allow_hosts))
    guard.check_url(url)
    return httpx.AsyncClient(transport=transport or GuardedTransport(guard), timeout=timeout, follow_redirects=False)
