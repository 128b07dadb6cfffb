"""A local PSP speaking the Banco Central's API Pix (v2), with mutual TLS, for `make dev` and the tests.

    double = PixDouble().start()                     # https://127.0.0.1:<port>, its throwaway CA in double.ca_file
    creds = double.issue_client(keys=["ana@example.com"])        # {clientId, clientSecret, certificate, ...}
    os.environ["PIX_API_BASE_URL_EFI"] = double.url              # Efí layout: /oauth/token and /v2/...
    os.environ["PIX_API_BASE_URL_BACEN"] = double.url + "/v2"    # the generic adapter: its base includes /v2
    os.environ["PIX_API_CA_FILE"] = double.ca_file               # trust the stand-in's server certificate
    double.pay(txid)                                 # what paying the QR does: CONCLUIDA + pix[] + the callback
    double.pay(txid, duplicates=1, batch_with=[other_txid])      # the same callback twice, two Pix in one
    double.pay_static(txid="ODYS123", amount="150.00", key="ana@example.com")   # a static code's payment
    double.refund(end_to_end_id)                     # a full devolução (DEVOLVIDO) and its callback
    double.fail_next("GET", "/v2/cob/", "timeout")   # or a status (503): fault injection, once

Wire format ([BCB-OAS], see /work/shared/notes/pix-api-facts.md): ``POST /oauth/token`` (HTTP Basic + JSON body as
Efí, or a form with client_id/client_secret as Inter; short ``expires_in``, default 120 s), ``PUT|GET|PATCH
/v2/cob/{txid}`` (txid ``[a-zA-Z0-9]{26,35}``, ``valor.original`` a string, ``chave`` must be the client's, status
rules: PATCH only an ATIVA charge, removal alone), ``GET /v2/pix`` (inicio/fim, ``paginacao.paginaAtual`` /
``itensPorPagina``), ``GET /v2/pix/{e2eid}``, ``PUT|GET /v2/pix/{e2eid}/devolucao/{id}``, ``PUT|GET|DELETE
/v2/webhook/{chave}``. Errors are the spec's problem bodies (``type``, ``title``, ``status``, ``detail``,
``violacoes``); with ``efi_errors=True`` a re-PUT answers Efí's ``{"nome": "txid_duplicado", "mensagem"}``.

Mutual TLS: every ``/oauth`` and ``/v2`` request must present the client certificate issued with its client id
(the TLS layer asks for one; the handler refuses a request without it, or with another client's). The dev-only
``/_double`` actions take no certificate: ``GET /_double`` (state), ``POST /_double/credentials``
(``{"keys": [...]}`` -> a client to paste into ``PUT /api/payment-connection``), ``POST /_double/pay``
(``{"txid", "duplicates"?, "batchWith"?}``), ``POST /_double/pay-static`` (``{"txid", "amount", "key"}``),
``POST /_double/refund`` (``{"endToEndId"}``). Callbacks are POSTed to ``{webhookUrl}/pix`` (``?ignorar=`` in the
URL: to the URL itself) with ``{"pix": [...]}``; tests may replace :attr:`PixDouble.deliver`.

Private keys exist only in memory (the server's is loaded through an anonymous memory file); ``ca_file`` holds the
CA *certificate* only and is removed by :meth:`stop`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import ssl
import string
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.http_double import HttpDouble

TXID_RE = re.compile(r"[a-zA-Z0-9]{26,35}")
VALUE_RE = re.compile(r"\d{1,10}\.\d{2}")
ERROR_BASE = "https://pix.bcb.gov.br/api/v2/error/"
_ALNUM = string.ascii_letters + string.digits


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else None


def new_end_to_end_id() -> str:
    """``E`` + an 8-digit ISPB + yyyyMMddHHmm + 11 alphanumerics: 32 characters, as the SPI makes them."""
    return "E18236120" + _now().strftime("%Y%m%d%H%M") + "".join(secrets.choice(_ALNUM) for _ in range(11))


# --- certificates (generated in memory with `cryptography`) -------------------------------------------------------

def _certificate(subject: str, key: Any, issuer: tuple[str, Any] | None, *, ca: bool = False,
                 hosts: tuple[str, ...] = ()) -> Any:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]), issuer[1]) \
        if issuer else (name, key)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                      content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=False,
                                                      encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    if hosts:
        alt = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _dynamic_br_code(location: str, name: str = "PSP DOUBLE", city: str = "SAO PAULO") -> str:
    from odys.pix import _tlv, crc16

    account = _tlv("00", "br.gov.bcb.pix") + _tlv("25", location)
    body = (_tlv("00", "01") + _tlv("01", "12") + _tlv("26", account) + _tlv("52", "0000") + _tlv("53", "986")
            + _tlv("58", "BR") + _tlv("59", name) + _tlv("60", city) + _tlv("62", _tlv("05", "***")) + "6304")
    return body + f"{crc16(body):04X}"


class PixDouble(HttpDouble):
    """The stand-in PSP; see the module docstring."""

    def __init__(self, *, token_lifetime: int = 120, efi_errors: bool = False, tls: bool = True) -> None:
        self.token_lifetime, self.efi_errors, self.tls = token_lifetime, efi_errors, tls
        self.lock = threading.RLock()
        self.clients: dict[str, dict[str, Any]] = {}     # client id -> {secret, fingerprint, keys}
        self.tokens: dict[str, tuple[str, float]] = {}    # token -> (client id, expiry)
        self.cobs: dict[str, dict[str, Any]] = {}
        self.pix: list[dict[str, Any]] = []
        self.webhooks: dict[str, dict[str, Any]] = {}     # chave -> {webhookUrl, criacao, headers}
        self.requests: list[tuple[str, str]] = []         # (method, path) of every API request
        self.deliveries: list[dict[str, Any]] = []        # {url, body, status}
        self.faults: list[tuple[str, str, Any]] = []
        self.deliver: Callable[[str, bytes], int] = self._post
        self.ca_file = ""
        self._ca: tuple[Any, Any] | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def start(self, host: str = "127.0.0.1", port: int = 0) -> PixDouble:
        base = self.handler()
        self._server = ThreadingHTTPServer((host, port), type(base.__name__, (base,), {"double": self}))
        self._server.daemon_threads = True
        if self.tls:
            self._server.socket = self._server_context().wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="PixDouble", daemon=True).start()
        return self

    def _server_context(self) -> ssl.SSLContext:
        """A throwaway CA, the server certificate for 127.0.0.1 signed by it (the CA also signs the clients')."""
        from odys.pix_api.transport import ClientIdentity, load_chain

        ca_key = _new_key()
        ca = _certificate("Odys PIX double CA", ca_key, None, ca=True)
        self._ca = (ca, ca_key)
        server_key = _new_key()
        server = _certificate("127.0.0.1", server_key, ("Odys PIX double CA", ca_key), hosts=("127.0.0.1", "localhost"))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        load_chain(context, ClientIdentity(_pem(server), _key_pem(server_key)))
        context.load_verify_locations(cadata=_pem(ca).decode())
        context.verify_mode = ssl.CERT_OPTIONAL  # the handler refuses API calls without a certificate
        handle, self.ca_file = tempfile.mkstemp(prefix="odys-pix-double-ca-", suffix=".pem")
        os.write(handle, _pem(ca))  # the certificate only: no key ever touches the disk
        os.close(handle)
        return context

    def stop(self) -> None:
        super().stop()
        if self.ca_file and os.path.exists(self.ca_file):
            os.unlink(self.ca_file)

    @property
    def url(self) -> str:
        return super().url.replace("http://", "https://") if self.tls else super().url

    def environment(self) -> dict[str, str]:
        """What the code under test needs to reach this stand-in for both providers."""
        env = {"PIX_API_BASE_URL_EFI": self.url, "PIX_API_BASE_URL_BACEN": self.url + "/v2"}
        if self.ca_file:
            env["PIX_API_CA_FILE"] = self.ca_file
        return env

    def reset(self) -> None:
        with self.lock:
            for store in (self.clients, self.tokens, self.cobs, self.webhooks):
                store.clear()
            for items in (self.pix, self.requests, self.deliveries, self.faults):
                items.clear()
            self.deliver = self._post

    # --- credentials ---------------------------------------------------------------------------------------------

    def issue_client(self, keys: list[str], *, p12_password: str | None = None) -> dict[str, str]:
        """A client id, secret and certificate (PEM with its key, base64; or PKCS#12 with ``p12_password``) for
        the PIX keys ``keys``: the body fields of ``PUT /api/payment-connection``."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        client_id = "Client_Id_" + secrets.token_hex(12)
        secret = "Client_Secret_" + secrets.token_hex(16)
        key = _new_key()
        if self._ca is None:
            raise RuntimeError("start() the double with tls=True to issue certificates")
        cert = _certificate(client_id, key, ("Odys PIX double CA", self._ca[1]))
        with self.lock:
            self.clients[client_id] = {"secret": secret, "keys": list(keys),
                                       "fingerprint": hashlib.sha256(cert.public_bytes(
                                           serialization.Encoding.DER)).hexdigest()}
        if p12_password is not None:
            blob = pkcs12.serialize_key_and_certificates(
                b"odys", key, cert, None, serialization.BestAvailableEncryption(p12_password.encode()))
            return {"clientId": client_id, "clientSecret": secret, "certificate": base64.b64encode(blob).decode(),
                    "certificatePassword": p12_password}
        pem = _pem(cert) + _key_pem(key)
        return {"clientId": client_id, "clientSecret": secret, "certificate": base64.b64encode(pem).decode()}

    def fail_next(self, method: str, path_prefix: str, outcome: int | str) -> None:
        """The next ``method`` request under ``path_prefix`` fails: an HTTP status, or ``"timeout"`` (the answer
        comes after 3 s: the caller's short timeout fires; the request itself was processed, as in real life)."""
        with self.lock:
            self.faults.append((method, path_prefix, outcome))

    def _fault(self, method: str, path: str) -> Any:
        with self.lock:
            for index, (m, prefix, outcome) in enumerate(self.faults):
                if m == method and path.startswith(prefix):
                    del self.faults[index]
                    return outcome
        return None

    # --- what a payer (and the SPI) does -------------------------------------------------------------------------

    def _pix_for(self, cob_or_txid: dict[str, Any] | str, amount: str, key: str) -> dict[str, Any]:
        txid = cob_or_txid["txid"] if isinstance(cob_or_txid, dict) else cob_or_txid
        item = {"endToEndId": new_end_to_end_id(), "txid": txid, "valor": amount, "chave": key,
                "horario": _iso(_now()), "infoPagador": "pagamento", "gnExtras": {"pagador": {"nome": "Fulana de Tal"}}}
        with self.lock:
            self.pix.append(item)
        return item

    def pay(self, txid: str, *, duplicates: int = 0, batch_with: tuple[str, ...] | list[str] = (),
            deliver: bool = True) -> list[dict[str, Any]]:
        """Pay the ATIVA charges ``txid`` (and ``batch_with``): CONCLUIDA with a ``pix[]`` entry each, then one
        callback holding all of them (sent ``1 + duplicates`` times). Returns the Pix objects."""
        paid = []
        with self.lock:
            for each in (txid, *batch_with):
                cob = self.cobs.get(each)
                if cob is None or cob["status"] != "ATIVA":
                    raise ValueError(f"no ATIVA charge {each}")
                item = self._pix_for(cob, cob["valor"]["original"], cob["chave"])
                cob["status"] = "CONCLUIDA"
                cob["pix"] = [item]
                paid.append(item)
        if deliver:
            for _ in range(1 + duplicates):
                self.send_callback(paid)
        return paid

    def pay_static(self, txid: str, amount: str, key: str, *, deliver: bool = False) -> dict[str, Any]:
        """A payment of a static BR Code carrying ``txid`` (no charge record; any amount)."""
        item = self._pix_for(txid, amount, key)
        if deliver:
            self.send_callback([item])
        return item

    def refund(self, end_to_end_id: str, *, deliver: bool = True) -> dict[str, Any]:
        """Give the whole amount back (DEVOLVIDO) and send the refund callback."""
        with self.lock:
            item = next(p for p in self.pix if p["endToEndId"] == end_to_end_id)
            refund = {"id": "D" + secrets.token_hex(8), "rtrId": "D" + new_end_to_end_id()[1:], "valor": item["valor"],
                      "horario": {"solicitacao": _iso(_now()), "liquidacao": _iso(_now())}, "status": "DEVOLVIDO"}
            item.setdefault("devolucoes", []).append(refund)
            for cob in self.cobs.values():
                for paid in cob.get("pix") or []:
                    if paid["endToEndId"] == end_to_end_id:
                        paid.update(copy.deepcopy(item))
        if deliver:
            self.send_callback([item])
        return refund

    def send_callback(self, items: list[dict[str, Any]]) -> list[int]:
        """POST ``{"pix": items}`` to the webhook of each key involved, as the PSP does; returns the statuses."""
        statuses = []
        by_key: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_key.setdefault(item["chave"], []).append(item)
        for key, group in by_key.items():
            hook = self.webhooks.get(key)
            if hook is None:
                continue
            url = hook["webhookUrl"]
            target = url if "ignorar=" in url else url.split("?")[0].rstrip("/") + "/pix" + \
                (("?" + url.split("?", 1)[1]) if "?" in url else "")
            body = json.dumps({"pix": copy.deepcopy(group)}).encode()
            try:
                status = self.deliver(target, body)
            except Exception as error:  # noqa: BLE001 - a PSP just records the failure
                status = 0
                print(f"pix double: callback to {target.split('/webhook/')[0]}/… failed: {type(error).__name__}")
            with self.lock:
                self.deliveries.append({"url": target, "body": json.loads(body), "status": status})
            statuses.append(status)
        return statuses

    @staticmethod
    def _post(url: str, body: bytes) -> int:
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the configured webhook
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


# --- the HTTP side -------------------------------------------------------------------------------------------------

class _Problem(Exception):
    def __init__(self, status: int, kind: str, title: str, detail: str = "",
                 violations: list[dict[str, str]] | None = None, body: dict[str, Any] | None = None) -> None:
        self.status = status
        self.body = body or {"type": ERROR_BASE + kind, "title": title, "status": status, "detail": detail,
                             "correlationId": secrets.token_hex(8), **({"violacoes": violations} if violations else {})}


def _violation(kind: str, title: str, reason: str, prop: str) -> _Problem:
    return _Problem(400, kind, title, "A requisição contém violações.", [{"razao": reason, "propriedade": prop}])


class _Handler(BaseHTTPRequestHandler):
    double: PixDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _reply(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        if "x-www-form-urlencoded" in (self.headers.get("content-type") or ""):
            return dict(urllib.parse.parse_qsl(raw.decode()))
        try:
            return json.loads(raw)
        except ValueError:
            raise _Problem(400, "RequisicaoInvalida", "Requisição inválida.", "O corpo não é JSON.") from None

    def _peer_fingerprint(self) -> str | None:
        getpeercert = getattr(self.connection, "getpeercert", None)
        der = getpeercert(binary_form=True) if getpeercert else None
        return hashlib.sha256(der).hexdigest() if der else None

    def _dispatch(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        path, query = parts.path, dict(urllib.parse.parse_qsl(parts.query))
        try:
            body = self._body()
            if path.startswith("/_double"):
                return self._reply(*self._dev_action(path, body))
            fault = self.double._fault(self.command, path)
            with self.double.lock:
                self.double.requests.append((self.command, path))
            if isinstance(fault, int):
                raise _Problem(fault, "ServicoIndisponivel", "Serviço indisponível.", "Falha simulada.")
            status, answer = self._api(path, query, body)
            if fault == "timeout":  # processed, but the answer comes too late (the caller has given up)
                time.sleep(3)
            self._reply(status, answer)
        except _Problem as problem:
            self._reply(problem.status, problem.body, "application/problem+json")
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    # --- auth --------------------------------------------------------------------------------------------------

    def _client_from_certificate(self) -> str | None:
        if not self.double.tls:
            return None
        fingerprint = self._peer_fingerprint()
        if fingerprint is None:
            raise _Problem(403, "AcessoNegado", "Acesso negado.", "Certificado de cliente ausente (mTLS).")
        for client_id, client in self.double.clients.items():
            if client["fingerprint"] == fingerprint:
                return client_id
        raise _Problem(403, "AcessoNegado", "Acesso negado.", "Certificado de cliente desconhecido.")

    def _token(self, body: Any) -> tuple[int, dict[str, Any]]:
        by_certificate = self._client_from_certificate()
        auth = self.headers.get("authorization") or ""
        client_id = secret = None
        if auth.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                pass
            grant = (body or {}).get("grant_type") if isinstance(body, dict) else None
        elif isinstance(body, dict):
            client_id, secret, grant = body.get("client_id"), body.get("client_secret"), body.get("grant_type")
        else:
            grant = None
        client = self.double.clients.get(client_id or "")
        if grant != "client_credentials" or client is None or not secrets.compare_digest(client["secret"],
                                                                                         secret or ""):
            raise _Problem(401, "AcessoNegado", "Não autorizado.", "Credenciais inválidas.")
        if self.double.tls and by_certificate != client_id:
            raise _Problem(401, "AcessoNegado", "Não autorizado.", "O certificado não é desta aplicação.")
        token = secrets.token_urlsafe(24)
        with self.double.lock:
            self.double.tokens[token] = (client_id, time.monotonic() + self.double.token_lifetime)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.double.token_lifetime,
                     "scope": "cob.write cob.read pix.read pix.write webhook.write webhook.read"}

    def _authorised(self) -> dict[str, Any]:
        by_certificate = self._client_from_certificate()
        auth = self.headers.get("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.double.lock:
            found = self.double.tokens.get(token)
        if found is None or found[1] < time.monotonic() or (self.double.tls and found[0] != by_certificate):
            raise _Problem(401, "AcessoNegado", "Não autorizado.", "Token ausente, inválido ou expirado.")
        return self.double.clients[found[0]]

    # --- API ---------------------------------------------------------------------------------------------------

    def _api(self, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if path == "/oauth/token" and self.command == "POST":
            return self._token(body)
        client = self._authorised()
        segments = path.strip("/").split("/")
        if segments[:1] != ["v2"]:
            raise _Problem(404, "NaoEncontrado", "Não encontrado.", f"Rota {path} inexistente.")
        segments = [urllib.parse.unquote(s) for s in segments[1:]]
        if segments[:1] == ["cob"] and len(segments) == 2:
            return self._cob(client, segments[1], body)
        if segments == ["pix"] and self.command == "GET":
            return self._list_pix(client, query)
        if segments[:1] == ["pix"] and len(segments) == 2 and self.command == "GET":
            item = next((p for p in self.double.pix if p["endToEndId"] == segments[1]
                         and p["chave"] in client["keys"]), None)
            if item is None:
                raise _Problem(404, "PixNaoEncontrado", "Pix não encontrado.", "Nenhum Pix com este e2eid.")
            return 200, item
        if segments[:1] == ["webhook"] and len(segments) == 2:
            return self._webhook(client, segments[1], body)
        raise _Problem(404, "NaoEncontrado", "Não encontrado.", f"Rota {path} inexistente.")

    def _cob(self, client: dict[str, Any], txid: str, body: Any) -> tuple[int, Any]:
        double = self.double
        if not TXID_RE.fullmatch(txid):
            raise _violation("CobOperacaoInvalida", "Cobrança inválida.", "O txid não respeita o _schema_.", "txid")
        with double.lock:
            cob = double.cobs.get(txid)
            if cob is not None and cob["chave"] not in client["keys"]:
                cob = None
            if self.command == "GET":
                if cob is None:
                    raise _Problem(404, "CobNaoEncontrado", "Cobrança não encontrada.", f"txid {txid}.")
                return 200, copy.deepcopy(cob)
            if self.command == "PUT":
                if cob is not None:
                    if double.efi_errors:
                        raise _Problem(409, "", "", body={"nome": "txid_duplicado",
                                                          "mensagem": "Campo txid informado já foi utilizado"})
                    if cob["status"] != "ATIVA":
                        raise _violation("CobOperacaoInvalida", "Cobrança inválida.",
                                         "A cobrança existe e não está ATIVA.", "cob.status")
                created = self._validated_new(client, txid, body)
                double.cobs[txid] = created
                return 201, copy.deepcopy(created)
            if self.command == "PATCH":
                if cob is None:
                    raise _Problem(404, "CobNaoEncontrado", "Cobrança não encontrada.", f"txid {txid}.")
                return 200, self._patched(cob, body)
        raise _Problem(405, "RequisicaoInvalida", "Método não permitido.")

    def _validated_new(self, client: dict[str, Any], txid: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _violation("CobOperacaoInvalida", "Cobrança inválida.", "O corpo é obrigatório.", "cob")
        expiry = (body.get("calendario") or {}).get("expiracao", 86400)
        if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry <= 0:
            raise _violation("CobOperacaoInvalida", "Cobrança inválida.", "expiracao deve ser positiva.",
                             "cob.calendario.expiracao")
        original = (body.get("valor") or {}).get("original")
        if not isinstance(original, str) or not VALUE_RE.fullmatch(original) or float(original) <= 0:
            raise _violation("CobOperacaoInvalida", "Cobrança inválida.",
                             "O campo cob.valor.original não respeita o _schema_.", "cob.valor.original")
        if body.get("chave") not in client["keys"]:
            raise _violation("CobOperacaoInvalida", "Cobrança inválida.",
                             "A chave não pertence ao usuário recebedor.", "cob.chave")
        if len(body.get("solicitacaoPagador") or "") > 140:
            raise _violation("CobOperacaoInvalida", "Cobrança inválida.", "solicitacaoPagador > 140.",
                             "cob.solicitacaoPagador")
        location = f"127.0.0.1/qr/v2/{secrets.token_hex(16)}"
        return {"calendario": {"criacao": _iso(_now()), "expiracao": expiry}, "txid": txid, "revisao": 0,
                "loc": {"id": len(self.double.cobs) + 1, "location": location, "tipoCob": "cob"},
                "location": location, "status": "ATIVA", "valor": {"original": original}, "chave": body["chave"],
                "solicitacaoPagador": body.get("solicitacaoPagador"), "infoAdicionais": body.get("infoAdicionais"),
                "pixCopiaECola": _dynamic_br_code(location)}

    def _patched(self, cob: dict[str, Any], body: Any) -> dict[str, Any]:
        if cob["status"] != "ATIVA":
            raise _violation("CobOperacaoInvalida", "Cobrança inválida.", "A cobrança não está ATIVA.", "cob.status")
        if not isinstance(body, dict) or not body:
            raise _violation("CobOperacaoInvalida", "Cobrança inválida.", "Nada a alterar.", "cob")
        if "status" in body:
            if body != {"status": "REMOVIDA_PELO_USUARIO_RECEBEDOR"}:
                raise _violation("CobOperacaoInvalida", "Cobrança inválida.",
                                 "A remoção não pode ser combinada com outras alterações.", "cob.status")
            cob["status"] = "REMOVIDA_PELO_USUARIO_RECEBEDOR"
        else:
            if "valor" in body:
                original = (body["valor"] or {}).get("original")
                if not isinstance(original, str) or not VALUE_RE.fullmatch(original) or float(original) <= 0:
                    raise _violation("CobOperacaoInvalida", "Cobrança inválida.",
                                     "O campo cob.valor.original não respeita o _schema_.", "cob.valor.original")
                cob["valor"] = {"original": original}
            if "calendario" in body:
                expiry = (body["calendario"] or {}).get("expiracao")
                if not isinstance(expiry, int) or expiry <= 0:
                    raise _violation("CobOperacaoInvalida", "Cobrança inválida.", "expiracao deve ser positiva.",
                                     "cob.calendario.expiracao")
                cob["calendario"]["expiracao"] = expiry
            if "solicitacaoPagador" in body:
                cob["solicitacaoPagador"] = body["solicitacaoPagador"]
        cob["revisao"] += 1
        return copy.deepcopy(cob)

    def _list_pix(self, client: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        start, end = _parse_time(query.get("inicio", "")), _parse_time(query.get("fim", ""))
        if start is None or end is None:
            raise _violation("ConsultaPixInvalida", "Consulta inválida.", "inicio e fim são obrigatórios (RFC 3339).",
                             "inicio")
        try:
            page = int(query.get("paginacao.paginaAtual", "0"))
            per_page = int(query.get("paginacao.itensPorPagina", "100"))
        except ValueError:
            raise _violation("ConsultaPixInvalida", "Consulta inválida.", "paginação inválida.", "paginacao") from None
        if page < 0 or not 1 <= per_page <= 1000:
            raise _violation("ConsultaPixInvalida", "Consulta inválida.", "paginação inválida.", "paginacao")
        with self.double.lock:
            found = [copy.deepcopy(p) for p in self.double.pix if p["chave"] in client["keys"]
                     and start <= _parse_time(p["horario"]) <= end]  # type: ignore[operator]
        pages = max(1, -(-len(found) // per_page))
        return 200, {"parametros": {"inicio": query["inicio"], "fim": query["fim"],
                                    "paginacao": {"paginaAtual": page, "itensPorPagina": per_page,
                                                  "quantidadeDePaginas": pages,
                                                  "quantidadeTotalDeItens": len(found)}},
                     "pix": found[page * per_page:(page + 1) * per_page]}

    def _webhook(self, client: dict[str, Any], key: str, body: Any) -> tuple[int, Any]:
        if key not in client["keys"]:
            raise _Problem(404 if self.command != "PUT" else 400, "WebhookOperacaoInvalida", "Webhook inválido.",
                           "A chave não pertence ao usuário recebedor.")
        with self.double.lock:
            if self.command == "PUT":
                url = (body or {}).get("webhookUrl") if isinstance(body, dict) else None
                if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                    raise _violation("WebhookOperacaoInvalida", "Webhook inválido.", "webhookUrl inválida.",
                                     "webhookUrl")
                self.double.webhooks[key] = {"webhookUrl": url, "chave": key, "criacao": _iso(_now()),
                                             "skipMtls": self.headers.get("x-skip-mtls-checking") == "true"}
                return 200, None
            hook = self.double.webhooks.get(key)
            if self.command == "GET":
                if hook is None:
                    raise _Problem(404, "NaoEncontrado", "Webhook não encontrado.")
                return 200, {k: hook[k] for k in ("webhookUrl", "chave", "criacao")}
            if self.command == "DELETE":
                if hook is None:
                    raise _Problem(404, "NaoEncontrado", "Webhook não encontrado.")
                del self.double.webhooks[key]
                return 204, None
        raise _Problem(405, "RequisicaoInvalida", "Método não permitido.")

    # --- dev-only actions --------------------------------------------------------------------------------------

    def _dev_action(self, path: str, body: Any) -> tuple[int, Any]:
        double, body = self.double, body if isinstance(body, dict) else {}
        if path == "/_double" and self.command == "GET":
            with double.lock:
                return 200, {"charges": [{k: c[k] for k in ("txid", "status", "valor", "chave")}
                                         for c in double.cobs.values()],
                             "webhooks": list(double.webhooks.values()), "pix": double.pix[-20:],
                             "deliveries": double.deliveries[-20:],
                             "try": {"credentials": "POST /_double/credentials {\"keys\": [\"your PIX key\"]}",
                                     "pay": "POST /_double/pay {\"txid\": \"...\", \"duplicates\": 1}"}}
        try:
            if path == "/_double/credentials" and self.command == "POST":
                return 201, {"provider": "efi", **double.issue_client(list(body.get("keys") or []))}
            if path == "/_double/pay" and self.command == "POST":
                items = double.pay(str(body.get("txid")), duplicates=int(body.get("duplicates") or 0),
                                   batch_with=[str(t) for t in body.get("batchWith") or []])
                return 200, {"pix": items, "deliveries": double.deliveries[-(1 + int(body.get("duplicates") or 0)):]}
            if path == "/_double/pay-static" and self.command == "POST":
                return 200, double.pay_static(str(body.get("txid")), str(body.get("amount")), str(body.get("key")),
                                              deliver=bool(body.get("deliver", True)))
            if path == "/_double/refund" and self.command == "POST":
                return 200, double.refund(str(body.get("endToEndId")))
        except (ValueError, StopIteration) as error:
            return 404, {"error": str(error) or "not found"}
        return 404, {"error": f"no dev action {self.command} {path}"}


# --- `make dev` -------------------------------------------------------------------------------------------------

def start_dev(stops: list, port: int) -> str:
    """For `make dev`: the stand-in (unless a ``PIX_API_BASE_URL_*`` is set), a KMS key on moto's server (unless
    ``PIX_KMS_KEY_ID`` is set) and ``PIX_WEBHOOK_BASE_URL`` = this dev server (unless set). Never overrides the
    environment; returns the banner line."""
    notes = []
    os.environ.setdefault("PIX_WEBHOOK_BASE_URL", f"http://127.0.0.1:{port}")
    if not os.environ.get("PIX_KMS_KEY_ID"):
        import boto3
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        stops.append(server.stop)
        host, kms_port = server.get_host_and_port()
        endpoint = f"http://{host}:{kms_port}"
        for key, value in {"AWS_ENDPOINT_URL_KMS": endpoint, "AWS_ACCESS_KEY_ID": "odys-local",
                           "AWS_SECRET_ACCESS_KEY": "odys-local", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            os.environ.setdefault(key, value)
        os.environ["PIX_KMS_KEY_ID"] = boto3.client("kms", endpoint_url=endpoint).create_key()["KeyMetadata"]["KeyId"]
        notes.append(f"KMS on moto at {endpoint}")
    if any(k.startswith("PIX_API_BASE_URL_") for k in os.environ):
        return f"PSP from PIX_API_BASE_URL_* ({', '.join(notes) or 'KMS from PIX_KMS_KEY_ID'})"
    double = PixDouble(token_lifetime=300).start()
    stops.append(double.stop)
    os.environ.update(double.environment())
    notes.append(f"callbacks to {os.environ['PIX_WEBHOOK_BASE_URL']}")
    return (f"stand-in {double.url} (mTLS; {'; '.join(notes)}). Connect: curl -s --cacert {double.ca_file} -X POST "
            f"{double.url}/_double/credentials -d '{{\"keys\": [\"<your PIX key>\"]}}' and PUT the answer to "
            f"/api/payment-connection; pay: POST {double.url}/_double/pay {{\"txid\": \"…\"}}")
