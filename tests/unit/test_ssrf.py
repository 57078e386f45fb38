"""SSRF guard: config-time URL checks and the connect-time GuardedTransport.

No real internet: public names resolve through an injected resolver and are sent to a
recording MockTransport; real requests only go over loopback to pytest-httpserver.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from core import ssrf
from core.ssrf import (
    BlockedAddress,
    BlockedURL,
    Guard,
    GuardedTransport,
    blocked_reason,
    check_url,
)

PUBLIC = "93.184.216.34"
PUBLIC6 = "2606:2800:220:1:248:1893:25c8:1946"


class Resolver:
    """Injected resolver: host -> list of answers, one per call (the last one repeats)."""

    def __init__(self, answers: dict[str, list[str] | list[list[str]]]) -> None:
        self.answers = {h: (a if a and isinstance(a[0], list) else [a]) for h, a in answers.items()}
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        seq = self.answers[host]
        return seq.pop(0) if len(seq) > 1 else seq[0]


class Recorder:
    """Inner transport recording every request it is asked to send (the connect target)."""

    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.requests: list[httpx.Request] = []
        self.fail = fail
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host in self.fail:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, text="ok")

    @property
    def targets(self) -> list[str]:
        return [r.url.host for r in self.requests]


def guarded(answers=None, guard=None, recorder=None):
    rec = recorder or Recorder()
    res = Resolver(answers or {})
    return GuardedTransport(guard, transport=rec.transport, resolver=res), rec, res


async def send(transport, url, method="POST", follow=False):
    async with httpx.AsyncClient(transport=transport, follow_redirects=follow, timeout=5) as client:
        return await client.request(method, url, content=b"{}")


# --------------------------------------------------------------------------- allowed


def test_public_name_is_resolved_checked_and_pinned():
    transport, rec, res = guarded({"receiver.example": [PUBLIC]})
    resp = asyncio.run(send(transport, "https://receiver.example/hook?x=1"))
    assert resp.status_code == 200
    (sent,) = rec.requests
    assert str(sent.url) == f"https://{PUBLIC}/hook?x=1"  # connects to the checked IP
    assert sent.headers["host"] == "receiver.example"  # virtual host kept
    assert sent.extensions["sni_hostname"] == "receiver.example"  # TLS SNI + cert check on the name
    assert sent.content == b"{}"
    assert resp.request.url.host == "receiver.example"  # caller's request untouched
    assert res.calls == [("receiver.example", 443)]


def test_public_ipv6_and_literal_and_port():
    transport, rec, res = guarded({"v6.example": [PUBLIC6]})
    asyncio.run(send(transport, "http://v6.example:8080/a"))
    asyncio.run(send(transport, f"http://{PUBLIC}/b"))
    assert rec.targets == [PUBLIC6, PUBLIC]
    assert rec.requests[0].headers["host"] == "v6.example:8080"
    assert rec.requests[0].url.port == 8080
    assert "sni_hostname" not in rec.requests[0].extensions  # plain http
    assert res.calls == [("v6.example", 8080)]  # literals are not resolved


def test_falls_back_to_next_checked_address_on_connect_error():
    rec = Recorder(fail={PUBLIC})
    transport, _, _ = guarded({"multi.example": [PUBLIC, "93.184.216.35"]}, recorder=rec)
    assert asyncio.run(send(transport, "http://multi.example/")).status_code == 200
    assert rec.targets == [PUBLIC, "93.184.216.35"]


# --------------------------------------------------------------------------- refused

REFUSED_LITERALS = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.8.9.10:8080/x", "loopback"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.254/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]/", "loopback"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fd00::1]/", "unique-local"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped link-local"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://100.64.0.1/", "not globally routable"),
    ("http://[2002:7f00:1::]/", "6to4 loopback"),
]


@pytest.mark.parametrize("url, reason", REFUSED_LITERALS)
def test_transport_refuses_non_public_literals(url, reason):
    transport, rec, res = guarded()
    with pytest.raises(BlockedAddress, match=reason) as info:
        asyncio.run(send(transport, url))
    assert rec.requests == [] and res.calls == []
    err = info.value
    assert isinstance(err, httpx.ConnectError) and isinstance(err, httpx.TransportError)
    assert err.retryable is False
    assert err.address


@pytest.mark.parametrize("url, reason", REFUSED_LITERALS)
def test_check_url_refuses_non_public_literals(url, reason):
    with pytest.raises(BlockedURL, match=reason):
        check_url(url)


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["::1"],
        ["10.0.0.5"],
        ["172.16.5.4"],
        ["192.168.0.10"],
        ["169.254.169.254"],
        ["fe80::1"],
        ["fd00::1"],
        ["::ffff:127.0.0.1"],
        ["0.0.0.0"],
        [PUBLIC, "10.0.0.5"],  # one public, one private: refused
        ["10.0.0.5", PUBLIC],
        [PUBLIC6, "::1"],
        ["not-an-ip"],
    ],
)
def test_transport_refuses_names_resolving_to_non_public(answers):
    transport, rec, res = guarded({"sneaky.example": answers})
    with pytest.raises(BlockedAddress, match="sneaky.example resolves to"):
        asyncio.run(send(transport, "https://sneaky.example/hook"))
    assert rec.requests == []
    assert len(res.calls) == 1


def test_localhost_with_the_system_resolver_is_refused():
    # getaddrinfo("localhost") is answered from /etc/hosts: no network involved
    transport = GuardedTransport(transport=Recorder().transport)
    with pytest.raises(BlockedAddress, match="localhost resolves to .*loopback"):
        asyncio.run(send(transport, "http://localhost:9/"))


def test_dns_failure_is_a_plain_retryable_connect_error():
    transport, rec, _ = guarded({})
    with pytest.raises(httpx.ConnectError) as info:
        asyncio.run(send(transport, "https://nxdomain.example/"))
    assert not isinstance(info.value, BlockedAddress)
    assert rec.requests == []


def test_dns_rebinding_connects_to_the_checked_address():
    res_answers = {"rebind.example": [[PUBLIC], ["127.0.0.1"]]}  # public first, then loopback
    transport, rec, res = guarded(res_answers)
    resp = asyncio.run(send(transport, "http://rebind.example/hook"))
    assert resp.status_code == 200
    assert rec.targets == [PUBLIC]  # pinned: no second lookup at connect time
    assert rec.requests[0].headers["host"] == "rebind.example"
    assert len(res.calls) == 1
    with pytest.raises(BlockedAddress, match="127.0.0.1"):  # the next request is re-checked
        asyncio.run(send(transport, "http://rebind.example/hook"))
    assert rec.targets == [PUBLIC]


def test_scheme_is_checked_at_request_time_too():
    transport, rec, _ = guarded(guard=Guard(allow_schemes={"https"}))
    with pytest.raises(BlockedAddress, match="scheme 'http'"):
        asyncio.run(send(transport, f"http://{PUBLIC}/"))
    assert rec.requests == []


# --------------------------------------------------------------------------- blocked_reason


@pytest.mark.parametrize(
    "address, blocked",
    [
        (PUBLIC, False),
        (PUBLIC6, False),
        ("8.8.8.8", False),
        ("::ffff:93.184.216.34", False),  # IPv4-mapped public: judged as the IPv4 address
        ("2002:5db8:d822::1", False),  # 6to4 of a public address
        ("127.0.0.1", True),
        ("10.255.255.255", True),
        ("172.16.0.0", True),
        ("172.32.0.1", False),
        ("192.168.255.255", True),
        ("169.254.169.254", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("fd12:3456::1", True),
        ("::", True),
        ("0.0.0.0", True),
        ("ff02::1", True),
        ("239.1.1.1", True),
        ("240.0.0.1", True),
        ("255.255.255.255", True),
        ("100.64.0.1", True),
        ("192.0.2.1", True),
        ("2001:db8::1", True),
        ("::ffff:10.0.0.1", True),
        ("64:ff9b::a00:1", True),
        ("2002:a00:1::", True),
    ],
)
def test_blocked_reason(address, blocked):
    assert (blocked_reason(address) is not None) is blocked


# --------------------------------------------------------------------------- check_url


@pytest.mark.parametrize(
    "url, match",
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("gopher://127.0.0.1:70/_GET", "scheme 'gopher' is not allowed"),
        ("ftp://files.example/x", "scheme 'ftp' is not allowed"),
        ("dict://localhost:11211/stat", "scheme 'dict'"),
        ("//no-scheme.example/x", "scheme"),
        ("http:///path-only", "no host"),
        ("http://", "no host"),
        ("https://hooks.slack.com@169.254.169.254/", "user info"),
        ("https://user:pass@receiver.example/", "user info"),
        ("http://receiver.example\\@10.0.0.1/", "backslash"),
        ("http://receiver.example /x", "whitespace"),
        ("http://2130706433/", "numeric host"),
        ("http://0x7f.0.0.1/", "numeric host"),
        ("http://0177.0.0.1/", "Invalid IPv4"),  # httpx rejects it
        ("http://%31%32%37.0.0.1/", "invalid host"),
        ("http://localhost:9093/", "loopback"),
        ("http://api.localhost/", "loopback"),
    ],
)
def test_check_url_refuses(url, match):
    with pytest.raises(BlockedURL, match=match):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://events.pagerduty.com/v2/enqueue",
        "http://receiver.example:8080/hook?x=1",
        "https://cafe.be/x",
        f"http://{PUBLIC}/x",
        f"https://[{PUBLIC6}]/x",
        "https://bücher.example/x",
    ],
)
def test_check_url_accepts_public(url):
    check_url(url)


def test_check_url_allow_hosts():
    guard = Guard(allow_hosts={"127.0.0.1", "alertmanager.internal", "[::1]", "LocalHost."})
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://alertmanager.internal:9093/api/v2/alerts",
        "http://[::1]:9093/",
        "http://localhost/",
        "http://Alertmanager.Internal./",
    ]:
        guard.check_url(url)
    with pytest.raises(BlockedURL):
        guard.check_url("http://127.0.0.2/")
    with pytest.raises(BlockedURL, match="scheme"):
        guard.check_url("ftp://127.0.0.1/")  # allow_hosts never relaxes the scheme


def test_check_url_message_does_not_leak_the_url_secret():
    with pytest.raises(BlockedURL) as info:
        check_url("ftp://hooks.slack.com/services/T000/B000/XXXXsecretXXXX?token=abc123")
    msg = str(info.value)
    assert "XXXXsecretXXXX" not in msg and "abc123" not in msg
    assert "hooks.slack.com" in msg


# --------------------------------------------------------------------------- real loopback


def test_allow_hosts_lets_a_real_local_server_receive(local_server):
    local_server.expect_request("/hook", method="POST").respond_with_data("", status=204)
    url = f"http://127.0.0.1:{local_server.port}/hook"

    async def go():
        allowed = GuardedTransport(Guard(allow_hosts={"127.0.0.1"}))
        async with httpx.AsyncClient(transport=allowed, follow_redirects=False, timeout=5) as client:
            resp = await client.post(url, content=b'{"a": 1}')
        assert resp.status_code == 204
        async with httpx.AsyncClient(transport=GuardedTransport(), follow_redirects=False) as client:
            with pytest.raises(BlockedAddress):
                await client.post(url, content=b"{}")

    asyncio.run(go())
    assert len(local_server.log) == 1
    request, _ = local_server.log[0]
    assert request.get_data() == b'{"a": 1}'


def test_redirect_from_allowed_host_to_metadata_is_refused(local_server):
    local_server.expect_request("/hook").respond_with_response(
        Response(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    )
    local_server.expect_request("/to-name").respond_with_response(
        Response(status=302, headers={"Location": "http://metadata.example/latest/meta-data/"})
    )
    base = f"http://127.0.0.1:{local_server.port}"
    guard = Guard(allow_hosts={"127.0.0.1"})
    resolver = Resolver({"metadata.example": ["169.254.169.254"]})

    async def go():
        transport = GuardedTransport(guard, resolver=resolver)
        async with httpx.AsyncClient(transport=transport, follow_redirects=True, timeout=5) as client:
            with pytest.raises(BlockedAddress, match="169.254.169.254"):
                await client.post(f"{base}/hook", content=b"{}")
            with pytest.raises(BlockedAddress, match="metadata.example resolves to 169.254.169.254"):
                await client.get(f"{base}/to-name")
        # the notifiers' setting: the redirect is returned, not followed
        async with httpx.AsyncClient(transport=GuardedTransport(guard), follow_redirects=False) as client:
            resp = await client.post(f"{base}/hook", content=b"{}")
            assert resp.status_code == 302

    asyncio.run(go())
    assert len(local_server.log) == 3  # only the allowed hops reached the server


def test_pinned_connection_over_real_loopback_keeps_host_header(local_server, monkeypatch):
    """A name pinned to its (here: loopback, check disabled) address: real TCP, Host header kept."""
    monkeypatch.setattr(ssrf, "blocked_reason", lambda ip: None)
    local_server.expect_request("/hook").respond_with_data("ok")
    resolver = Resolver({"receiver.test": ["127.0.0.1"]})

    async def go():
        transport = GuardedTransport(resolver=resolver)
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            return await client.post(f"http://receiver.test:{local_server.port}/hook", content=b"x")

    assert asyncio.run(go()).text == "ok"
    request, _ = local_server.log[0]
    assert request.headers["Host"] == f"receiver.test:{local_server.port}"


def test_default_inner_transport_is_one_pool_per_host_name():
    """httpcore pools by (scheme, IP, port): separate pools keep a TLS connection verified for
    one name from being reused for another name pinned to the same IP."""
    transport = GuardedTransport()
    a, b = transport._transport_for("a.example"), transport._transport_for("b.example")
    assert a is not b and transport._transport_for("a.example") is a
    assert isinstance(a, httpx.AsyncHTTPTransport)
    asyncio.run(transport.aclose())


def _tls_contexts(name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a leaf for ``name``: (server context, client context)."""
    import os
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appwatch test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_file, "wb") as f:
            f.write(leaf.public_bytes(pem))
        with open(key_file, "wb") as f:
            f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client


def test_pinned_https_verifies_the_certificate_against_the_name(monkeypatch):
    """SNI and certificate verification use the name, not the pinned IP."""
    monkeypatch.setattr(ssrf, "blocked_reason", lambda ip: None)
    server_ctx, client_ctx = _tls_contexts("receiver.test")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_ctx)
    server.expect_request("/hook").respond_with_data("tls ok")
    server.start()
    try:
        resolver = Resolver({"receiver.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})

        async def go():
            transport = GuardedTransport(resolver=resolver, verify=client_ctx)
            async with httpx.AsyncClient(transport=transport, timeout=5) as client:
                resp = await client.post(f"https://receiver.test:{server.port}/hook", content=b"x")
                assert resp.text == "tls ok"
                # same IP and port, different name: the certificate does not match other.test
                with pytest.raises(httpx.ConnectError, match="(?i)certificate|hostname"):
                    await client.post(f"https://other.test:{server.port}/hook", content=b"x")

        asyncio.run(go())
        assert len(server.log) == 1
    finally:
        server.clear()
        server.stop()
