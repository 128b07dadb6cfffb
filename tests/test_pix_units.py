"""The pieces of automatic PIX confirmation on their own: KMS envelope sealing, the API Pix error parser (spec and
Efí shapes), certificate loading (PEM, PKCS#12) and the stand-in's mutual TLS."""

from __future__ import annotations

import base64
import doctest
import http.client
import json
import ssl

import pytest

from odys import pix_payments, sealed
from odys.pix_api import bacen, efi
from odys.pix_api.client import parse_error
from odys.pix_api.transport import Answer, CertificateInvalid, load_identity


def test_a_sealed_blob_opens_only_with_its_own_context_and_unaltered(kms):
    blob = sealed.seal(b'{"clientSecret": "s3cr3t"}', context={"professional_id": "a"})
    assert b"s3cr3t" not in blob
    assert sealed.open_sealed(blob, context={"professional_id": "a"}) == b'{"clientSecret": "s3cr3t"}'
    with pytest.raises(sealed.SealError):
        sealed.open_sealed(blob, context={"professional_id": "b"})  # copied to another professional's row
    envelope = json.loads(blob)
    data = bytearray(base64.b64decode(envelope["data"]))
    data[0] ^= 1
    tampered = json.dumps({**envelope, "data": base64.b64encode(bytes(data)).decode()}).encode()
    with pytest.raises(sealed.SealError):
        sealed.open_sealed(tampered, context={"professional_id": "a"})


def test_sealing_without_a_key_configured_says_which_setting_is_missing(monkeypatch):
    from odys import config

    monkeypatch.delenv("PIX_KMS_KEY_ID", raising=False)
    with pytest.raises(config.ConfigurationError, match="PIX_KMS_KEY_ID"):
        sealed.seal(b"x", context={"professional_id": "a"})


def test_one_error_parser_reads_the_spec_efi_and_bare_statuses():
    spec = Answer(400, {}, b'{"type": "https://pix.bcb.gov.br/api/v2/error/CobOperacaoInvalida", "title": "t", '
                           b'"status": 400, "detail": "d", "violacoes": [{"razao": "valor", "propriedade": "x"}]}')
    error = parse_error(spec, bacen)
    assert (error.status, error.code, error.detail) == (400, "CobOperacaoInvalida", "d; valor")
    efi_body = Answer(409, {}, b'{"nome": "txid_duplicado", "mensagem": "Campo txid informado ja foi utilizado"}')
    assert parse_error(efi_body, efi).code == "txid_duplicado"
    assert parse_error(efi_body, bacen).code == "http_409"  # Efí's shape is Efí's quirk
    assert parse_error(Answer(403, {}, b"<html>"), bacen).code == "http_403"


def test_efi_registers_the_webhook_without_mtls_unless_the_callback_domain_does_it(monkeypatch):
    monkeypatch.delenv("PIX_WEBHOOK_MTLS", raising=False)
    assert efi.webhook_registration("https://h/x") == ("https://h/x", {"x-skip-mtls-checking": "true"})
    monkeypatch.setenv("PIX_WEBHOOK_MTLS", "required")
    assert efi.webhook_registration("https://h/x") == ("https://h/x", {})


def test_certificates_load_from_pem_or_pkcs12_and_bad_ones_say_so(psp):
    pem = psp.issue_client(["k"])
    identity = load_identity(pem["certificate"])
    assert b"BEGIN CERTIFICATE" in identity.certificate_pem and b"PRIVATE KEY" in identity.key_pem
    assert load_identity(base64.b64decode(pem["certificate"]).decode()).fingerprint == identity.fingerprint
    p12 = psp.issue_client(["k"], p12_password="pw")
    assert load_identity(p12["certificate"], "pw").not_after()
    with pytest.raises(CertificateInvalid, match="password"):
        load_identity(p12["certificate"], "wrong")
    with pytest.raises(CertificateInvalid):
        load_identity("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----")


def test_the_stand_in_refuses_api_calls_without_the_client_certificate(psp):
    context = ssl.create_default_context(cafile=psp.ca_file)
    host, port = psp.url.removeprefix("https://").split(":")
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
    connection.request("POST", "/oauth/token", body=b'{"grant_type": "client_credentials"}',
                       headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    assert answer.status == 403 and b"AcessoNegado" in answer.read()
    connection.close()


def test_doctests_of_the_settlement_helpers():
    assert doctest.testmod(pix_payments).failed == 0


def test_a_charge_efi_already_has_is_read_back_instead_of_created_twice(psp, monkeypatch):
    from odys import pix_api, pix_charges

    for key, value in psp.environment().items():
        monkeypatch.setenv(key, value)
    credentials = psp.issue_client(["ana@example.com"])
    api = pix_api.connect("efi", client_id=credentials["clientId"], client_secret=credentials["clientSecret"],
                          identity=load_identity(credentials["certificate"]))
    body = {"calendario": {"expiracao": 3600}, "valor": {"original": "150.00"}, "chave": "ana@example.com"}
    txid = pix_charges.new_txid()
    first = api.put_cob(txid, body)
    psp.efi_errors = True
    try:
        with pytest.raises(pix_api.PixApiError) as refused:
            api.put_cob(txid, body)
        assert (refused.value.status, refused.value.code) == (409, "txid_duplicado")
        again = pix_charges._create(api, txid, body, read_first=False)  # what a concurrent twin request does
    finally:
        psp.efi_errors = False
    assert again["pixCopiaECola"] == first["pixCopiaECola"]


def _resolving(monkeypatch, *addresses: str) -> list[str]:
    import socket

    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize("address", ["10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.1.1", "240.0.0.1", "255.255.255.255", "::1",
                                     "fe80::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1", "2002:7f00:1::1"])
def test_a_psp_host_resolving_to_an_internal_address_is_refused(monkeypatch, address):
    from odys.pix_api import transport

    _resolving(monkeypatch, address)
    with pytest.raises(transport.AddressRefused):
        transport.public_address("https://psp.example.com/v2")
    _resolving(monkeypatch, "203.0.113.9", address)  # one bad address among good ones is enough
    with pytest.raises(transport.AddressRefused):
        transport.public_address("https://psp.example.com/v2")


def test_the_connection_goes_to_the_address_that_was_checked_not_to_a_second_resolution(monkeypatch, psp):
    import socket

    from odys.pix_api import transport

    asked = _resolving(monkeypatch, "8.8.8.8")
    dialled: list[tuple] = []

    def create_connection(address, *args, **kwargs):
        dialled.append(address)
        raise OSError("not really dialling")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    identity = load_identity(psp.issue_client(["k"])["certificate"])
    with pytest.raises(transport.TransportError):
        transport.send("GET", "https://psp.example.com/v2/cob/x", identity, timeout=1)
    assert asked == ["psp.example.com"] and dialled == [("8.8.8.8", 443)]


def test_only_the_stand_in_host_is_exempt_and_only_in_dev_or_test(monkeypatch):
    from odys.pix_api import transport

    monkeypatch.setenv("PIX_API_BASE_URL_BACEN", "https://127.0.0.1:9999/v2")
    monkeypatch.setenv("ODYS_STAGE", "test")
    assert transport.public_address("https://127.0.0.1:9999/v2") is None
    with pytest.raises(transport.AddressRefused):
        transport.public_address("https://localhost:9999/v2")
    monkeypatch.setenv("ODYS_STAGE", "prod")
    with pytest.raises(transport.AddressRefused):
        transport.public_address("https://127.0.0.1:9999/v2")


def test_the_client_certificate_is_loaded_without_a_file_on_disk(psp, monkeypatch):
    import tempfile

    from odys.pix_api import transport

    def no_disk(*args, **kwargs):
        raise AssertionError("the key must not touch the file system")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_disk)
    monkeypatch.setattr(tempfile, "mkstemp", no_disk)
    identity = load_identity(psp.issue_client(["k"])["certificate"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    transport.load_chain(context, identity)  # memfd on Linux: no path anywhere
