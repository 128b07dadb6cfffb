"""The WhatsApp queue on this machine (`make dev`, tests): moto's SQS server with the queue and its dead-letter
queue, and a poller that feeds the ``whatsapp_sender`` function like Lambda's SQS event source mapping.

    local = LocalQueue().start()                 # moto server on 127.0.0.1:<free port>, queue + DLQ (redrive 5)
    os.environ.update(local.environment())       # WHATSAPP_QUEUE_URL, AWS_ENDPOINT_URL_SQS, dummy credentials
    route = sender_route()                       # whatsapp_sender from template.yaml, or None if not there yet
    poller = Poller(local, lambda event: workers.invoke(route, event)).start()
    ...
    poller.stop(); local.stop()

The poller receives up to ``batch_size`` messages (long polling), invokes the function with the real SQS event
(``Records`` with messageId, receiptHandle, body, attributes incl. ApproximateReceiveCount, messageAttributes,
md5OfBody, eventSource ``aws:sqs``, eventSourceARN, awsRegion) and, as with ``ReportBatchItemFailures``, deletes
every record except those named in ``batchItemFailures``. A function error or an invalid item identifier fails the
whole batch. What is not deleted reappears after the visibility timeout; after ``max_receive_count`` receives SQS
moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from devtools import lambdas

REGION = "us-east-1"
SENDER = "whatsapp_sender"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "odys-local", "AWS_SECRET_ACCESS_KEY": "odys-local"}


class LocalQueue:
    """moto's SQS server with a queue and its dead-letter queue (redrive after ``max_receive_count`` receives)."""

    def __init__(self, name: str = "odys-whatsapp", *, visibility_timeout: int = 10, max_receive_count: int = 5) -> None:
        self.name, self.visibility_timeout, self.max_receive_count = name, visibility_timeout, max_receive_count
        self.endpoint = self.url = self.arn = self.dlq_url = self.dlq_arn = ""
        self._server: Any = None

    def start(self) -> LocalQueue:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per poll
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.create()
        return self

    def create(self, name: str | None = None) -> LocalQueue:
        """(Re)create the queue pair, under another name if given (tests: a fresh pair per test)."""
        self.name = name or self.name
        sqs = self.client()
        self.dlq_url = sqs.create_queue(QueueName=f"{self.name}-dlq")["QueueUrl"]
        self.dlq_arn = self._arn(self.dlq_url)
        redrive = json.dumps({"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": str(self.max_receive_count)})
        self.url = sqs.create_queue(QueueName=self.name, Attributes={
            "VisibilityTimeout": str(self.visibility_timeout), "RedrivePolicy": redrive})["QueueUrl"]
        self.arn = self._arn(self.url)
        return self

    def _arn(self, url: str) -> str:
        return self.client().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def client(self) -> Any:
        import boto3

        return boto3.client("sqs", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def environment(self) -> dict[str, str]:
        """What the functions need to send to this queue (boto3 reads AWS_ENDPOINT_URL_SQS itself)."""
        return {"WHATSAPP_QUEUE_URL": self.url, "WHATSAPP_DLQ_URL": self.dlq_url,  # the watchdog reads its depth
                "AWS_ENDPOINT_URL_SQS": self.endpoint, "AWS_DEFAULT_REGION": REGION, **CREDENTIALS}

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def sender_route(template: dict[str, Any] | None = None) -> tuple[lambdas.Route, int] | None:
    """``whatsapp_sender`` as template.yaml declares it — (a Route carrying its Timeout, its SQS BatchSize) — or
    None when the template or functions/ has no such function yet."""
    template = template or lambdas.load_template()
    default_timeout = ((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::Serverless::Function" or lambdas.function_name(props.get("CodeUri", "")) != SENDER:
            continue
        if not (lambdas.ROOT / "functions" / SENDER / "app.py").exists():
            return None
        batch_size = next((int((e.get("Properties") or {}).get("BatchSize", 10))
                           for e in (props.get("Events") or {}).values() if e.get("Type") == "SQS"), 10)
        route = lambdas.Route("SQS", "", SENDER, lambdas._pattern(""), float(props.get("Timeout", default_timeout)))
        return route, batch_size
    return None


def sqs_event(messages: list[dict[str, Any]], *, queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers, from ReceiveMessage's messages."""
    records = []
    for m in messages:
        attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000)),
                      "SenderId": "AIDAODYSLOCAL", "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                      **(m.get("Attributes") or {})}
        message_attributes = {
            name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType", "String")}
            for name, value in (m.get("MessageAttributes") or {}).items()}
        records.append({"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": attributes, "messageAttributes": message_attributes,
                        "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
                        "awsRegion": region})
    return {"Records": records}


class Poller:
    """One SQS event source mapping: receive a batch, invoke, delete what succeeded; on a thread until stopped.

        poller = Poller(local, invoke=lambda event: {"batchItemFailures": []}, batch_size=10).start()
        poller.stop()
    """

    def __init__(self, queue: LocalQueue, invoke: Callable[[dict[str, Any]], Any], *, batch_size: int = 10,
                 wait_seconds: int = 1) -> None:
        self.queue, self.invoke, self.batch_size, self.wait_seconds = queue, invoke, min(batch_size, 10), wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sqs = queue.client()

    def start(self) -> Poller:
        self._thread = threading.Thread(target=self._run, name="odys-sqs-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.wait_seconds + 35)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as error:  # noqa: BLE001 - keep polling, like the service does
                print(f"sqs poller: {type(error).__name__}: {error}", file=sys.stderr)
                self._stop.wait(1)

    def poll_once(self) -> tuple[int, int]:
        """Receive one batch and hand it to the function: (records received, records deleted)."""
        answer = self._sqs.receive_message(QueueUrl=self.queue.url, MaxNumberOfMessages=self.batch_size,
                                           WaitTimeSeconds=self.wait_seconds, AttributeNames=["All"],
                                           MessageAttributeNames=["All"])
        messages = answer.get("Messages") or []
        if not messages:
            return 0, 0
        event = sqs_event(messages, queue_arn=self.queue.arn)
        try:
            result = self.invoke(event)
        except lambdas.InvocationFailed as failure:  # a function error: the whole batch comes back later
            print(f"function {SENDER}: {failure.detail}", file=sys.stderr)
            return len(messages), 0
        failed = _failed_ids(result, {r["messageId"] for r in event["Records"]})
        if failed is None:
            print(f"function {SENDER}: invalid batchItemFailures, the whole batch is retried", file=sys.stderr)
            return len(messages), 0
        done = [r for r in event["Records"] if r["messageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(QueueUrl=self.queue.url, Entries=[
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(done)])
        return len(messages), len(done)


def _failed_ids(result: Any, received: set[str]) -> set[str] | None:
    """The ids a ReportBatchItemFailures answer names; None when it is invalid (Lambda retries the whole batch)."""
    if result is None or result == {}:
        return set()
    if not isinstance(result, dict) or not isinstance(result.get("batchItemFailures", []), list):
        return None
    failed = set()
    for item in result.get("batchItemFailures") or []:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in received:
            return None
        failed.add(identifier)
    return failed


def unique_name(prefix: str = "odys-whatsapp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"

