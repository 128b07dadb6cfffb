"""odys.sqs, SQS without boto3: its Signature Version 4 is botocore's, byte for byte; credentials come from the
environment or, as under SnapStart, from the container credentials endpoint (refreshed before they expire); a
throttled or failing call is tried once more, a refused one is not; the connection is kept alive. Against a local
SQS double that records what it receives, and against moto's SQS server (the tests' and ``make dev``'s queue)."""

from __future__ import annotations

import datetime as dt
import json
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from devtools.http_double import HttpDouble
from odys import queue, sqs

NOW = dt.datetime(2026, 12, 2, 8, 30, 15, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjE...session"])
@pytest.mark.parametrize("url", ["https://sqs.sa-east-1.amazonaws.com/", "http://127.0.0.1:5000/",
                                 "https://sqs.sa-east-1.amazonaws.com/?a=1&b=two%20words"])
def test_the_signature_is_botocores(url, token, monkeypatch):
    body = json.dumps({"QueueUrl": "https://sqs.sa-east-1.amazonaws.com/123456789012/odys-whatsapp",
                       "Entries": [{"Id": "0", "MessageBody": '{"messageId":"7f0c"}', "DelaySeconds": 5}]}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessageBatch"}
    ours = sqs.sign("POST", url, headers, body, credentials=sqs.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG",
                                                                              token, None),
                    region="sa-east-1", now=NOW)

    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    signer = SigV4Auth(BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token), "sqs", "sa-east-1")
    monkeypatch.setattr("botocore.auth.datetime.datetime",
                        type("Fixed", (dt.datetime,), {"utcnow": classmethod(lambda cls: NOW.replace(tzinfo=None)),
                                                       "now": classmethod(lambda cls, tz=None: NOW)}))
    signer.add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"] == "20261202T083015Z"
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SQS
    double: _Double

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the credentials endpoint
        if self.headers.get("Authorization") != "container-token":
            return self._send(403, {"message": "bad token"})
        self.double.credential_fetches += 1
        n = self.double.credential_fetches
        self._send(200, {"AccessKeyId": f"ASIA{n}", "SecretAccessKey": "secret", "Token": f"session-{n}",
                         "Expiration": self.double.expiration})

    def do_POST(self) -> None:  # noqa: N802 - SQS
        self.double.connections.add(self.client_address)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.double.requests.append({"headers": dict(self.headers), "body": body})
        answers = self.double.answers
        self._send(*(answers.pop(0) if answers else (200, {"Successful": [], "Failed": []})))

    def log_message(self, *args: Any) -> None:
        pass


class _Double(HttpDouble):
    """An SQS endpoint (JSON protocol) answering from a script, and a container credentials endpoint."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, Any]] = []
        self.credential_fetches = 0
        self.expiration = "2099-01-01T00:00:00Z"
        self.connections: set[tuple[str, int]] = set()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler


@pytest.fixture
def double(monkeypatch):
    server = _Double().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", server.url)
    monkeypatch.setenv("AWS_REGION", "sa-east-1")
    monkeypatch.setenv("WHATSAPP_QUEUE_URL", "https://sqs.sa-east-1.amazonaws.com/123456789012/odys-whatsapp")
    sqs.reset()
    yield server
    sqs.reset()
    server.stop()


def _snapstart_credentials(monkeypatch, server: _Double) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url + "/2018-06-01/credentials")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")


def test_a_batch_is_signed_sent_as_sqs_json_and_read_like_boto3s_answer(double, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "lambda-session")
    double.answers = [(200, {"Successful": [{"Id": "0", "MessageId": "m-0", "MD5OfMessageBody": "x"}],
                             "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]})]
    assert queue.send_ids(["id-a", "id-b"], delays={"id-b": 2000}) == ["id-a"]
    sent = double.requests[0]
    assert sent["headers"]["X-Amz-Target"] == "AmazonSQS.SendMessageBatch"
    assert sent["headers"]["Content-Type"] == "application/x-amz-json-1.0"
    assert sent["headers"]["X-Amz-Security-Token"] == "lambda-session"
    assert sent["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDENV/")
    assert "/sa-east-1/sqs/aws4_request" in sent["headers"]["Authorization"]
    assert sent["body"] == {"QueueUrl": "https://sqs.sa-east-1.amazonaws.com/123456789012/odys-whatsapp", "Entries": [
        {"Id": "0", "MessageBody": '{"messageId":"id-a"}'},
        {"Id": "1", "MessageBody": '{"messageId":"id-b"}', "DelaySeconds": 900}]}  # clamped to SQS's limit


def test_snapstart_credentials_come_from_the_container_endpoint_and_are_refreshed_before_they_expire(
        double, monkeypatch):
    _snapstart_credentials(monkeypatch, double)
    double.expiration = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=6)).isoformat()
    queue.send_ids(["a"])
    queue.send_ids(["b"])
    assert double.credential_fetches == 1  # kept while fresh
    assert [r["headers"]["X-Amz-Security-Token"] for r in double.requests] == ["session-1", "session-1"]
    double.expiration = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=2)).isoformat()
    sqs.reset()
    queue.send_ids(["c"])
    queue.send_ids(["d"])  # expiring within five minutes: fetched again
    assert double.credential_fetches == 3
    assert double.requests[-1]["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIA3/")


def test_a_refused_container_token_is_an_error_naming_no_secret(double, monkeypatch):
    _snapstart_credentials(monkeypatch, double)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token")
    with pytest.raises(sqs.SqsError) as info:
        queue.send_ids(["a"])
    assert info.value.code == "CredentialsRefused" and info.value.status == 403
    assert "wrong-token" not in str(info.value) and double.requests == []


def test_throttling_and_5xx_are_tried_once_more_a_refusal_is_not(double, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    double.answers = [(400, {"__type": "com.amazonaws.sqs#RequestThrottled", "message": "slow down"}),
                      (200, {"Successful": [{"Id": "0"}], "Failed": []})]
    assert queue.send_ids(["a"]) == ["a"] and len(double.requests) == 2
    double.answers = [(503, {"__type": "com.amazonaws.sqs#ServiceUnavailable"}), (500, {"__type": "InternalError"})]
    with pytest.raises(sqs.SqsError) as info:
        queue.send_ids(["b"])
    assert (info.value.code, info.value.status) == ("InternalError", 500) and len(double.requests) == 4
    double.answers = [(400, {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "no such queue"})]
    with pytest.raises(sqs.SqsError) as info:
        queue.send_ids(["c"])
    assert (info.value.code, info.value.status) == ("QueueDoesNotExist", 400) and len(double.requests) == 5
    double.answers = [(403, ["not", "an", "SQS", "error"])]  # e.g. a proxy's answer: the status still tells
    with pytest.raises(sqs.SqsError) as info:
        queue.send_ids(["d"])
    assert (info.value.code, info.value.status) == ("UnknownError", 403) and len(double.requests) == 6


def test_calls_share_one_kept_alive_connection(double, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for message_id in ("a", "b", "c"):
        queue.send_ids([message_id])
    assert len(double.requests) == 3 and len(double.connections) == 1


def test_against_motos_sqs_server_a_batch_arrives_and_the_depth_is_read(sqs):  # conftest's moto queue
    from odys import queue as odys_queue

    assert odys_queue.send_ids(["m-1", "m-2", "m-3"]) == ["m-1", "m-2", "m-3"]
    assert odys_queue.depth(sqs.url) == 3
    received = sqs.client().receive_message(QueueUrl=sqs.url, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(json.loads(m["Body"])["messageId"] for m in received) == ["m-1", "m-2", "m-3"]
