"""Where the downloader's HTTP may go: internal (loopback, private, link-local) hosts and peers told apart
from public ones, the session of the project's HTTP clients (:func:`http_session`, at most
:data:`MAX_REDIRECTS` redirects, its connections watched) and the hook that vets each answer and redirect
(:func:`redirect_guard`)."""
from __future__ import annotations

import functools
from urllib.parse import urljoin, urlparse

from ..errors import InputError
from .common import redact_url
from .watchdog import _watching


#: redirects one download may follow (requests' own default is 30)
MAX_REDIRECTS = 10


def _internal_address(address: str) -> bool:
    """True for an IP literal that is loopback, private, link-local or otherwise not public
    (an IPv4-mapped IPv6 address is judged by its IPv4 part; a zone index ``%eth0`` is ignored)."""
    import ipaddress

    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global


def _resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to now, sorted; ``[]`` when it does not resolve."""
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos})


def _internal_host(host: str | None, *, resolve: bool = True) -> str | None:
    """Why ``host`` is internal, or ``None`` for a public one.

    ``localhost`` (and ``*.localhost``) and IP literals are judged as written; a name
    is resolved (``resolve``) and is internal when any address it resolves to is:
    ``"store.lan (resolves to 10.0.0.7)"``. A name that does not resolve counts as
    public here (the connection fails on its own; where it does connect, the peer
    address of the answer is checked by :func:`redirect_guard`). Numeric forms the
    resolver reads as IPv4 (``2130706433``, ``0x7f.1``) resolve to what they mean.
    """
    if not host:
        return None
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return host
    try:
        return host if _internal_address(host) else None
    except ValueError:
        pass  # a name
    if not resolve:
        return None
    inside = [a for a in _resolve(host) if _internal_address(a)]
    return f"{host} (resolves to {', '.join(inside)})" if inside else None


def _socket_of(r):
    """The socket the body of the response ``r`` comes through, or None when it is gone."""
    raw = getattr(r, "raw", None)
    conn = getattr(raw, "connection", None)
    # an open keep-alive connection has its socket; one that closes after this answer (HTTP/1.0,
    # ``Connection: close``) has handed it to the response's reader (http.client's makefile)
    return getattr(conn, "sock", None) or getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None),
                                                          "raw", None), "_sock", None)


def _peer_address(r) -> str | None:
    """The IP address the response ``r`` came from, when its connection is a direct one.

    ``None`` behind a proxy (the peer is the proxy), or when the connection is gone.
    """
    conn = getattr(getattr(r, "raw", None), "connection", None)
    if conn is None or getattr(conn, "proxy", None) is not None or getattr(conn, "_tunnel_host", None):
        return None
    sock = _socket_of(r)
    if sock is None:
        return None
    try:
        peer = sock.getpeername()
    except (OSError, AttributeError):
        return None
    return peer[0] if isinstance(peer, tuple) and peer else None


@functools.lru_cache(maxsize=None)
def _watched_adapter() -> type:
    """A requests ``HTTPAdapter`` whose connections tell this thread's :class:`_Watchdog` (if any) the socket
    of each request they send, so that the wait for its answer can be cut (:meth:`_Watchdog.expect_headers`)."""
    import urllib3
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Watched:
        def connect(self):
            # the deadline of the answer before (a redirect's) does not run on while this connection is made: the
            # connect timeout bounds that, and this request's own deadline begins once it is sent
            dog = getattr(_watching, "dog", None)
            if dog is not None:
                dog.disarm()
            return super().connect()

        def getresponse(self, *args, **kwargs):
            dog = getattr(_watching, "dog", None)
            if dog is not None:
                dog.expect_headers(self.sock, f"{self.host}:{self.port}")
            return super().getresponse(*args, **kwargs)

    # named as urllib3 names them: its messages name the pool ("HTTPSConnectionPool(host=...): ...")
    pools = {scheme: type(pool.__name__, (pool,), {"ConnectionCls": type(conn.__name__, (Watched, conn), {})})
             for scheme, pool, conn in (("http", HTTPConnectionPool, HTTPConnection),
                                        ("https", HTTPSConnectionPool, HTTPSConnection))}

    class WatchedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy, **kwargs):
            manager = super().proxy_manager_for(proxy, **kwargs)
            if isinstance(manager, urllib3.ProxyManager):  # not SOCKS: its pools are its own
                manager.pool_classes_by_scheme = pools
            return manager

    return WatchedAdapter


def http_session():
    """A ``requests.Session`` that follows at most :data:`MAX_REDIRECTS` redirects; pass
    ``hooks={"response": redirect_guard(url)}`` with each request to vet them. Its connections let
    :func:`download` bound the wait for each answer's headers (``header_timeout``)."""
    import requests

    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    for prefix in ("https://", "http://"):
        session.mount(prefix, _watched_adapter()())
    return session


def redirect_guard(origin: str):
    """A requests ``response`` hook that vets every answer, and every redirect before requests follows it.

    Refused, as an :class:`InputError` naming ``origin`` and the hop: a target
    that is not http(s); an https response redirecting to plain http (the rest
    of the transfer would travel unencrypted and unauthenticated); a redirect
    from a public origin to an internal host: ``localhost``, a loopback,
    private or link-local address, or a name that resolves to one (a hostile
    mirror must not make the pipeline read a machine's internal services, such
    as a cloud metadata endpoint, into an artifact); and, from a public origin,
    any answer whose connection's peer is an internal address, whatever its
    name resolved to when it was checked (DNS rebinding), before its body is
    read. Redirects between public hosts (a hub to its CDN) and among local
    ones (a loopback test server, a store on the LAN) are followed.

    The origin is internal when its name is, or when its own answer came from
    an internal peer (the spec's author chose that host). Behind a proxy the
    peer is the proxy, so only names are checked.
    """
    origin_host = urlparse(origin).hostname
    state: dict = {}

    def origin_internal(r) -> bool:
        if "internal" not in state:  # the first answer is the origin's
            peer = _peer_address(r)
            state["internal"] = bool((peer and _internal_address(peer)) or _internal_host(origin_host))
        return state["internal"]

    shown = redact_url(origin)

    def hook(r, **kwargs):
        here = urlparse(r.url)
        host = f"{here.scheme}://{here.netloc.rsplit('@', 1)[-1]}"  # never the user information
        if not origin_internal(r):
            peer = _peer_address(r)
            if peer and _internal_address(peer):
                raise InputError(shown, "answers from public addresses only",
                                 f"{host} answered from the internal address {peer}; refusing to read it")
        if not r.is_redirect:
            return r
        hop = f"{host} redirects to"
        location = r.headers["location"]
        try:
            target = urlparse(urljoin(r.url, location))
            target_host, _ = target.hostname, target.port  # .port raises on a port out of range
        except ValueError as exc:
            raise InputError(shown, "redirects to valid URLs", f"{hop} {redact_url(location)!r:.120}, which is "
                                                               f"no valid URL ({exc}); refusing to follow it") from None
        if target.scheme not in ("http", "https"):
            raise InputError(shown, "redirects to http(s) URLs only", f"{hop} a {target.scheme or 'schemeless'} "
                                                                       "URL; refusing to follow it")
        if here.scheme == "https" and target.scheme == "http":
            raise InputError(shown, "an https download that stays on https",
                             f"{hop} plain http://{target.netloc.rsplit('@', 1)[-1]}; refusing the downgrade")
        if not origin_internal(r):
            inside = _internal_host(target_host)
            if inside:
                raise InputError(shown, "redirects to public hosts only",
                                 f"{hop} the internal address {inside}; refusing to follow it")
        return r

    return hook
