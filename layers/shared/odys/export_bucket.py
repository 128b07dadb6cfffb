"""The export bucket (S3): an export too large for a Lambda response is put here and fetched by a presigned URL.

    from odys import export_bucket
    key = export_bucket.put(fileobj, name="odys-ana-psi-2026-12-02.json", prefix=professional_id,
                            content_type="application/json", content_encoding="gzip")
    url = export_bucket.presigned_url(key, expires_in=900)     # GET, valid 15 minutes

``EXPORT_BUCKET`` names the bucket (template.yaml: encrypted, public access blocked, objects expire after a day);
locally ``AWS_ENDPOINT_URL_S3`` points boto3 at moto's server (boto3 reads it itself). boto3 is imported on the
first upload, never at cold start: the exports that fit in the response pay nothing. Keys are random
(``exports/<professional id>/<uuid>/<name>``), so a URL names one export only, and says nothing personal.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from odys import aws_clients, config

PART_BYTES = 8 * 1024 * 1024
class ExportBucketNotConfigured(config.ConfigurationError):
    """EXPORT_BUCKET is not set."""


class ExportBucketUnavailable(Exception):
    """S3 refused or could not be reached (``reason``: the error's class and code, nothing of the file)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextmanager
def _s3_errors() -> Iterator[None]:
    """botocore's and boto3's errors as :class:`ExportBucketUnavailable` (imported only once S3 is in use)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        raise ExportBucketUnavailable(f"ClientError {error.response.get('Error', {}).get('Code')}") from error
    except (BotoCoreError, Boto3Error) as error:
        raise ExportBucketUnavailable(type(error).__name__) from error


def bucket() -> str:
    name = config.env("EXPORT_BUCKET")
    if not name:
        raise ExportBucketNotConfigured("EXPORT_BUCKET is not configured")
    return name


def _s3() -> Any:
    """The environment's S3 client (SigV4: presigned URLs need it)."""
    return aws_clients.client("s3", signature_version="s3v4", connect_timeout=2, read_timeout=10,
                              retries={"max_attempts": 3, "mode": "standard"})


def reset_client() -> None:
    """Forget the client (tests pointing at another endpoint)."""
    aws_clients.reset("s3")


def put(fileobj: IO[bytes], *, name: str, prefix: str, content_type: str, content_encoding: str | None) -> str:
    """Upload ``fileobj`` (read to its end, in parts: never whole in memory) as a download named ``name``; returns
    its key. Raises :class:`ExportBucketUnavailable` when S3 fails (an incomplete multipart upload is aborted by
    the transfer manager, or else by the bucket's lifecycle rule)."""
    key = f"exports/{prefix}/{uuid.uuid4()}/{name}"
    extra = {"ContentType": content_type, "ContentDisposition": f'attachment; filename="{name}"',
             "CacheControl": "private, no-store"}
    if content_encoding:
        extra["ContentEncoding"] = content_encoding
    from boto3.s3.transfer import TransferConfig

    # parts of 8 MiB, two at a time: the upload holds ~3 parts in memory whatever the file's size
    transfer = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=2)
    name_of_bucket = bucket()
    with _s3_errors():
        _s3().upload_fileobj(fileobj, name_of_bucket, key, ExtraArgs=extra, Config=transfer)
    return key


def presigned_url(key: str, *, expires_in: int) -> str:
    """A GET URL for ``key``, valid ``expires_in`` seconds (signed with the function's role: it may read it).
    Signing is local; it fails (:class:`ExportBucketUnavailable`) only without credentials."""
    name_of_bucket = bucket()
    with _s3_errors():
        return _s3().generate_presigned_url("get_object", Params={"Bucket": name_of_bucket, "Key": key},
                                            ExpiresIn=expires_in)
