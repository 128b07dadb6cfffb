"""SQS over HTTPS with Signature Version 4: the two calls Odys makes (SendMessageBatch, GetQueueAttributes), in
SQS's JSON protocol, without boto3. Importing boto3 and building its SQS client cost a producer's first enqueue
~270 ms (``benchmarks/README.md``, cold start: the booking's confirmation); this is ``hmac`` and ``http.client``.

    from odys import sqs
    client = sqs.client()       # one per execution environment: its connection and credentials are reused
    client.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "{...}"}])
    # -> {"Successful": [{"Id": "0", "MessageId": "...", "MD5OfMessageBody": "..."}], "Failed": []}
    client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    # -> {"Attributes": {"ApproximateNumberOfMessages": "3"}}

The calls answer what boto3's answer (the JSON SQS sends), so :mod:`odys.queue` reads them the same way. Where
boto3 would raise, :class:`SqsError` names SQS's error code and HTTP status (never a credential).

Configuration, as boto3 reads it: the region from ``AWS_REGION`` (``AWS_DEFAULT_REGION``); the endpoint from
``AWS_ENDPOINT_URL_SQS`` or ``AWS_ENDPOINT_URL`` (moto's server under ``make dev`` and the tests), else
``https://sqs.<region>.amazonaws.com``; credentials from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN`` (Lambda sets them), or else from the container credentials endpoint
(``AWS_CONTAINER_CREDENTIALS_FULL_URI`` with ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` or ``…_TOKEN_FILE``: what a
SnapStart environment gets instead), refreshed five minutes before they expire. A call is tried twice when SQS
is throttling, failing (5xx) or the connection broke (SendMessageBatch twice is safe here: the sender sends a row
at most once). Tests check the signature against botocore's signer (tests/test_sqs.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from odys import config, snapstart

if TYPE_CHECKING:
    import http.client

CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 3
ATTEMPTS = 2
_RETRIED = {"ThrottlingException", "RequestThrottled", "ServiceUnavailable", "InternalError", "InternalFailure"}
_REFRESH_BEFORE_SECONDS = 300


class SqsError(Exception):
    """SQS refused a call (its error ``code`` and HTTP ``status``), or could not be reached (``code`` names why)."""

    def __init__(self, code: str, status: int | None, message: str = "") -> None:
        super().__init__(f"SQS {code} ({status or 'no answer'}){': ' + message[:200] if message else ''}")
        self.code, self.status = code, status


class Credentials:
    """An access key, its secret and session token, and when they expire (None: they do not)."""

    __slots__ = ("access_key", "secret_key", "token", "expires_at")

    def __init__(self, access_key: str, secret_key: str, token: str | None, expires_at: float | None) -> None:
        self.access_key, self.secret_key, self.token, self.expires_at = access_key, secret_key, token, expires_at

    def fresh(self) -> bool:
        return self.expires_at is None or time.time() < self.expires_at - _REFRESH_BEFORE_SECONDS


def _credentials() -> Credentials:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None, None)
    uri = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not uri:
        raise SqsError("NoCredentials", None, "no AWS credentials in the environment")
    token = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    token_file = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if token_file:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    try:
        status, body = config.http_get(uri, {"Authorization": token} if token else {}, CONNECT_TIMEOUT_SECONDS)
    except OSError as error:
        raise SqsError("CredentialsUnreachable", None, type(error).__name__) from None
    if status != 200:
        raise SqsError("CredentialsRefused", status)
    found = json.loads(body)
    expires = found.get("Expiration")
    return Credentials(found["AccessKeyId"], found["SecretAccessKey"], found.get("Token"),
                       dt.datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() if expires else None)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(method: str, url: str, headers: dict[str, str], body: bytes, *, credentials: Credentials, region: str,
         service: str = "sqs", now: dt.datetime | None = None) -> dict[str, str]:
    """``headers`` with ``Host``, ``X-Amz-Date``, ``X-Amz-Security-Token`` (a session's) and ``Authorization``
    added: AWS Signature Version 4 over every header given, as botocore's ``SigV4Auth`` signs them."""
    now = now or dt.datetime.now(dt.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(url)
    signed = {**headers, "Host": parts.netloc, "X-Amz-Date": stamp}
    if credentials.token:
        signed["X-Amz-Security-Token"] = credentials.token
    canonical_headers = sorted((name.lower(), " ".join(str(value).split())) for name, value in signed.items())
    names = ";".join(name for name, _ in canonical_headers)
    query = "&".join(sorted(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                            for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
    canonical = "\n".join([method, urllib.parse.quote(parts.path or "/", safe="/-_.~"), query,
                           "".join(f"{name}:{value}\n" for name, value in canonical_headers), names,
                           hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{credentials.secret_key}".encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                               f"SignedHeaders={names}, Signature={signature}")
    return signed


class Client:
    """One environment's SQS client: a kept-alive connection to the endpoint and the current credentials."""

    def __init__(self) -> None:
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.endpoint = (config.env("AWS_ENDPOINT_URL_SQS") or config.env("AWS_ENDPOINT_URL")
                         or f"https://sqs.{self.region}.amazonaws.com")
        self._parts = urllib.parse.urlsplit(self.endpoint)
        self._connection: http.client.HTTPConnection | None = None
        self._credentials: Credentials | None = None
        self._lock = threading.Lock()

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        return self._call("SendMessageBatch", {"QueueUrl": QueueUrl, "Entries": Entries})

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:  # noqa: N803
        return self._call("GetQueueAttributes", {"QueueUrl": QueueUrl, "AttributeNames": AttributeNames})

    def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self._lock:  # one call at a time on the connection (the dev server runs threads)
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    return self._once(action, body)
                except SqsError as error:
                    if attempt == ATTEMPTS or not (error.status is None or error.status >= 500
                                                   or error.code in _RETRIED):
                        raise
                    self._close()

    def _once(self, action: str, body: bytes) -> dict[str, Any]:
        import http.client

        if self._credentials is None or not self._credentials.fresh():
            self._credentials = _credentials()
        headers = sign("POST", self.endpoint, {"Content-Type": "application/x-amz-json-1.0",
                                                "X-Amz-Target": f"AmazonSQS.{action}"}, body,
                       credentials=self._credentials, region=self.region)
        try:
            connection = self._connection or self._connect()
            connection.request("POST", self._parts.path or "/", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:  # refused, timed out, dropped: a new connection
            self._close()
            raise SqsError("ConnectionFailed", None, type(error).__name__) from None
        if response.will_close:
            self._close()
        if response.status == 200:
            return json.loads(answer) if answer else {}
        try:
            fault = json.loads(answer)
        except ValueError:
            fault = None
        if not isinstance(fault, dict):  # a proxy's HTML page, an empty body: the status says enough
            fault = {}
        code = str(fault.get("__type") or response.getheader("x-amzn-query-error", "") or "UnknownError")
        raise SqsError(code.rsplit("#", 1)[-1].split(";")[0], response.status, str(fault.get("message") or ""))

    def _connect(self) -> http.client.HTTPConnection:
        self._connection = config.http_connection(self._parts, timeout=CONNECT_TIMEOUT_SECONDS)
        self._connection.connect()
        self._connection.sock.settimeout(READ_TIMEOUT_SECONDS)
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


_client: Client | None = None
_client_lock = threading.Lock()


def client() -> Client:
    """This execution environment's client, built on first use from the environment as it is then."""
    global _client
    with _client_lock:
        if _client is None:
            _client = Client()
        return _client


def reset() -> None:
    """Forget the client: its connection, credentials and endpoint (tests; a SnapStart-resumed environment)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client._close()
        _client = None


snapstart.before_snapshot(reset)  # no socket, no credentials in a snapshot
snapstart.after_restore(reset)  # a resumed environment has credentials of its own
