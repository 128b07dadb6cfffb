"""HTTPS with a client certificate (mutual TLS) for API Pix calls: stdlib http.client + ssl, nothing on disk.

    identity = load_identity(certificate_b64, password=None)     # PEM or PKCS#12 (base64) -> ClientIdentity
    answer = send("PUT", "https://pix.example.com/v2/cob/TX…", identity, json_body={...}, bearer="…", timeout=5)
    answer.status, answer.json

The certificate and its private key are kept in memory (:class:`ClientIdentity`, PEM bytes). ``ssl`` can only
load a certificate chain from a *file*, so :func:`ssl_context` writes the PEM to an anonymous in-memory file
(``os.memfd_create`` on Linux, which Lambda is: no path on any file system) and closes it right after
``load_cert_chain``; elsewhere (a developer's macOS) it uses a ``tempfile`` created 0600 and deleted right after
loading. Contexts are cached per identity for the process (an execution environment serves one professional's
calls many times).

``PIX_API_CA_FILE`` (dev/tests only) adds a CA to trust for the PSP's server certificate: the local stand-in's
throwaway CA. In AWS the system trust store is used. Plain ``http://`` is refused outside dev/test.

No request to an internal address (SSRF: the generic adapter takes the professional's ``apiBaseUrl``): every
address the host resolves to must be public (:func:`public_address`; private, loopback, link-local, multicast,
reserved and shared ranges are refused, IPv4-mapped IPv6 included), and the connection goes to the address that
was checked, never to a second resolution (DNS rebinding); TLS still verifies the host name. In dev/test only, the
hosts of the configured ``PIX_API_BASE_URL_*`` (the local stand-in) are exempt::

    public_address("https://api.psp.com.br/pix/v2")   # -> "203.0.113.7" (the address to connect to)
    public_address("https://169.254.169.254/")        # AddressRefused
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from odys import config

_KEY_PEM = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S)
_contexts: dict[str, ssl.SSLContext] = {}
_lock = threading.Lock()


class CertificateInvalid(ValueError):
    """The certificate cannot be read (format, password, missing key); the message says what to do."""


class AddressRefused(ValueError):
    """The URL's host is not a public internet address (or cannot be resolved): Odys does not call it."""


class TransportError(Exception):
    """The PSP could not be reached or did not answer in time (``timed_out`` tells which)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate chain and its unencrypted private key, PEM, in memory only."""

    certificate_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.certificate_pem).hexdigest()

    def not_after(self) -> Any:
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.certificate_pem).not_valid_after_utc


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


def load_identity(certificate: str, password: str | None = None) -> ClientIdentity:
    """A :class:`ClientIdentity` from a PEM (certificate + key, as text or base64) or a base64 PKCS#12 (.p12)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    text = certificate.strip()
    raw = text.encode() if "-----BEGIN" in text else None
    if raw is None:
        try:
            raw = base64.b64decode(text, validate=False)
        except ValueError:
            raise CertificateInvalid("The certificate must be PEM or base64 (PEM or PKCS#12 .p12).") from None
    secret = password.encode() if password else None
    if b"-----BEGIN" in raw:
        try:
            certs = x509.load_pem_x509_certificates(raw)
            key = serialization.load_pem_private_key(_key_block(raw), password=secret)
        except (ValueError, TypeError):
            raise CertificateInvalid("The PEM must hold the certificate and its private key (and the password "
                                     "if the key is encrypted).") from None
    else:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(raw, secret)
        except (ValueError, TypeError):
            raise CertificateInvalid("The PKCS#12 (.p12) certificate could not be opened: check the file and "
                                     "its password.") from None
        if key is None or cert is None:
            raise CertificateInvalid("The PKCS#12 file must contain the certificate and its private key.")
        certs = [cert, *(extra or [])]
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return ClientIdentity(chain, key_pem)


def _key_block(pem: bytes) -> bytes:
    found = _KEY_PEM.search(pem)
    if found is None:
        raise ValueError("no private key")
    return found.group(0)


def load_chain(context: ssl.SSLContext, identity: ClientIdentity) -> None:
    """``load_cert_chain`` from an anonymous memory file (Linux) or a 0600 temp file deleted at once."""
    pem = identity.certificate_pem + b"\n" + identity.key_pem
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("odys-pix-identity", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, pem)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    handle = tempfile.NamedTemporaryFile(delete=False)  # noqa: SIM115 - removed in finally
    try:
        handle.write(pem)
        handle.close()
        context.load_cert_chain(handle.name)
    finally:
        os.unlink(handle.name)


def ssl_context(identity: ClientIdentity) -> ssl.SSLContext:
    """A TLS ≥ 1.2 client context presenting ``identity`` (cached per certificate for the process)."""
    with _lock:
        cached = _contexts.get(identity.fingerprint)
        if cached is not None:
            return cached
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    extra_ca = config.env("PIX_API_CA_FILE") if config.is_local() else None
    if extra_ca:
        context.load_verify_locations(extra_ca)
    load_chain(context, identity)
    with _lock:
        _contexts[identity.fingerprint] = context
    return context


def _exempt_hosts() -> set[str]:
    """dev/test: the hosts of the operator's ``PIX_API_BASE_URL_*`` (the stand-in on 127.0.0.1)."""
    if not config.is_local():
        return set()
    return {urllib.parse.urlsplit(value).hostname or "" for name, value in os.environ.items()
            if name.startswith("PIX_API_BASE_URL_") and value} - {""}


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip.sixtofour):
        ip = ip.ipv4_mapped or ip.sixtofour  # type: ignore[assignment]
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def public_address(url: str) -> str | None:
    """The checked address to connect to for ``url``'s host (None: an exempt dev/test host, connect by name);
    :class:`AddressRefused` when the host does not resolve or any of its addresses is not public."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if not host:
        raise AddressRefused("The URL has no host.")
    if host in _exempt_hosts():
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise AddressRefused(f"The host {host} cannot be resolved.") from None
    addresses = [str(info[4][0]) for info in found]
    if not addresses or not all(_is_public(a) for a in addresses):
        raise AddressRefused(f"The host {host} is not a public internet address.")
    return addresses[0]


def _pinned(connection: http.client.HTTPConnection, address: str | None) -> http.client.HTTPConnection:
    """Make ``connection`` open its socket to the checked ``address`` (the Host header, SNI and certificate check
    keep the name)."""
    if address is not None:
        def create(target: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
            return socket.create_connection((address, target[1]), *args, **kwargs)

        connection._create_connection = create  # type: ignore[attr-defined]  # http.client's own hook
    return connection


def send(method: str, url: str, identity: ClientIdentity, *, json_body: Any = None, form: dict[str, str] | None = None,
         headers: dict[str, str] | None = None, bearer: str | None = None, timeout: float = 5.0) -> Answer:
    """One request over mTLS; :class:`TransportError` when the PSP cannot be reached or is too slow."""
    parts = urllib.parse.urlsplit(url)
    out = {"Accept": "application/json", **(headers or {})}
    body: bytes | None = None
    if json_body is not None:
        body, out["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    elif form is not None:
        body, out["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    if bearer:
        out["Authorization"] = f"Bearer {bearer}"
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        address = public_address(url)
    except AddressRefused as error:
        raise TransportError(str(error)) from None
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl_context(identity))
    elif parts.scheme == "http" and config.is_local():
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    else:
        raise TransportError("the PSP URL must be https")
    _pinned(connection, address)
    try:
        connection.request(method, target, body=body, headers=out)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    except (TimeoutError, socket.timeout) as error:
        raise TransportError(f"timed out ({type(error).__name__})", timed_out=True) from None
    except (OSError, http.client.HTTPException) as error:
        raise TransportError(f"unreachable ({type(error).__name__})") from None
    finally:
        connection.close()
