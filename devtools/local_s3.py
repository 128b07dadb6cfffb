"""The export bucket on this machine (`make dev`, tests): a bucket on moto's server, on the one that already holds
the WhatsApp queue when there is one (moto serves every AWS service on one port).

    bucket = LocalBucket(endpoint=local_queue.endpoint).start()   # or LocalBucket().start(): its own moto server
    os.environ.update(bucket.environment())                        # EXPORT_BUCKET, AWS_ENDPOINT_URL_S3, credentials
    bucket.objects()                                               # -> {key: {"body", "ContentType", ...}}
    bucket.stop()                                                  # stops the server only if it started it

Presigned URLs point at the moto server (``http://127.0.0.1:<port>/<bucket>/<key>?X-Amz-...``): a browser or curl
on this machine downloads the export from there.
"""

from __future__ import annotations

import uuid
from typing import Any

from devtools.local_sqs import CREDENTIALS, REGION


class LocalBucket:
    def __init__(self, name: str = "odys-exports-dev", *, endpoint: str | None = None) -> None:
        self.name, self.endpoint = name, endpoint or ""
        self._server: Any = None

    def start(self) -> LocalBucket:
        if not self.endpoint:
            from moto.server import ThreadedMotoServer

            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
        return self.create()

    def create(self, name: str | None = None) -> LocalBucket:
        """(Re)create the bucket, under another name if given (tests: a fresh bucket per test)."""
        self.name = name or self.name
        self.client().create_bucket(Bucket=self.name)
        return self

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def environment(self) -> dict[str, str]:
        """What the export function needs to write here (boto3 reads AWS_ENDPOINT_URL_S3 itself)."""
        return {"EXPORT_BUCKET": self.name, "AWS_ENDPOINT_URL_S3": self.endpoint, "AWS_DEFAULT_REGION": REGION,
                **CREDENTIALS}

    def objects(self) -> dict[str, dict[str, Any]]:
        """Every object of the bucket: its body and its stored headers."""
        s3, out = self.client(), {}
        for item in s3.list_objects_v2(Bucket=self.name).get("Contents") or []:
            got = s3.get_object(Bucket=self.name, Key=item["Key"])
            out[item["Key"]] = {"body": got["Body"].read(), **{k: got.get(k) for k in (
                "ContentType", "ContentEncoding", "ContentDisposition")}}
        return out

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def unique_name() -> str:
    return f"odys-exports-{uuid.uuid4().hex[:12]}"
