"""Cold cost of reading the secret bundle one way or the other, in this fresh process.

    python -m benchmarks.coldstart.secrets_child extension <endpoint> <secret id>
    python -m benchmarks.coldstart.secrets_child powertools <moto server url> <secret id>
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def main() -> None:
    way, endpoint, secret_id = sys.argv[1:4]
    t0 = time.perf_counter()
    if way == "extension":
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers" / "shared"))
        os.environ.update(ODYS_SECRETS_ENDPOINT=endpoint, ODYS_SECRETS_ID=secret_id, AWS_SESSION_TOKEN="t")
        from odys import config

        t1 = time.perf_counter()
        value = config.secret("STRIPE_SECRET_KEY")
    else:
        from aws_lambda_powertools.utilities import parameters

        t1 = time.perf_counter()
        import boto3

        provider = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager", endpoint_url=endpoint))
        value = json.loads(provider.get(secret_id))["STRIPE_SECRET_KEY"]
    t2 = time.perf_counter()
    assert value == "sk_test_bench"
    print(json.dumps({"import_ms": (t1 - t0) * 1000, "fetch_ms": (t2 - t1) * 1000, "total_ms": (t2 - T_START) * 1000}))


if __name__ == "__main__":
    main()
