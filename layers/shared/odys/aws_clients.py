"""boto3 clients, one per AWS service per execution environment, created on first use: boto3 is imported then,
never at cold start, so a function that calls no AWS service pays nothing for it.

    from odys import aws_clients
    s3 = aws_clients.client("s3", connect_timeout=2, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})
    aws_clients.reset("s3")    # tests pointing the service at another endpoint
    aws_clients.reset_all()    # an environment resumed from a SnapStart snapshot (odys.snapstart)

``settings`` are botocore ``Config`` options, fixed by the first call for a service (each adapter asks with its own).
Endpoints come from the environment as boto3 reads them (``AWS_ENDPOINT_URL_S3`` … under ``make dev`` and tests).
SQS, the one AWS call on a request's hot path, goes without boto3 (:mod:`odys.sqs`).
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str, **settings: Any) -> Any:
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            _clients[service] = boto3.client(service, config=Config(**settings)) if settings else boto3.client(service)
        return _clients[service]


def reset(service: str) -> None:
    """Forget the service's client: the next call builds one from the environment as it is then."""
    with _lock:
        _clients.pop(service, None)


def reset_all() -> None:
    """Forget every client (their connection pools and credentials belong to one execution environment)."""
    with _lock:
        _clients.clear()
