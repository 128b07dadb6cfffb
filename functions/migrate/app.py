"""migrate — applies pending schema migrations; safe to run concurrently (advisory lock).

Invoked on every deploy as a CloudFormation custom resource (template.yaml ``SchemaMigrations``), whose
``Version`` property changes with each deploy, and can be invoked by hand (``{}``) too.
"""

import json
import urllib.request

from odys import migrate
from odys.log import logger


def _answer_cloudformation(event: dict, status: str, reason: str, data: dict) -> None:
    body = json.dumps({
        "Status": status, "Reason": reason[:200], "PhysicalResourceId": "odys-schema-migrations",
        "StackId": event["StackId"], "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (pre-signed S3 URL from CloudFormation)
        pass


@logger.inject_lambda_context
def lambda_handler(event, context):
    custom_resource = isinstance(event, dict) and "ResponseURL" in event
    if custom_resource and event.get("RequestType") == "Delete":
        _answer_cloudformation(event, "SUCCESS", "nothing to undo", {})
        return {"applied": []}
    try:
        applied = migrate.apply_pending()
    except Exception as error:
        logger.exception("migration failed")
        if custom_resource:
            _answer_cloudformation(event, "FAILED", f"migration failed: {type(error).__name__}", {})
            return {"applied": [], "error": type(error).__name__}
        raise
    logger.info("migrations applied", extra={"applied": applied})
    if custom_resource:
        _answer_cloudformation(event, "SUCCESS", "migrated", {"Applied": ",".join(applied) or "none"})
    return {"applied": applied}
