"""Structured logging (Powertools Logger) that never writes personal data or secrets.

    from odys.log import logger
    logger.info("booking created", extra={"appointment_id": appt_id, "phone": "+5511999990000"})
    # -> {"message": "booking created", "appointment_id": "...", "phone": "[redacted]", ...}

Keys that name personal data or credentials are replaced by ``[redacted]`` wherever they appear (nested too), and
e-mail addresses, phone numbers and bearer tokens inside free text are masked.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SENSITIVE_KEYS = frozenset({
    "authorization", "cookie", "set-cookie", "password", "secret", "token", "access_token", "refresh_token",
    "api_key", "phone", "email", "name", "cpf", "cnpj", "pix_key", "pixkey", "body", "notes", "comment",
    "stripe-signature", "x-hub-signature-256", "manage_token", "managetoken", "client_name", "client_phone",
})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()-]{8,}\d")
_BEARER = re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+")
REDACTED = "[redacted]"


def redact(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in SENSITIVE_KEYS:
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, _BEARER.sub(r"\1" + REDACTED, value)))
    return value


_STANDARD_KEYS = frozenset({"level", "location", "timestamp", "service", "sampling_rate", "cold_start",
                            "function_name", "function_memory_size", "function_arn", "function_request_id",
                            "correlation_id", "xray_trace_id"})


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict[str, Any]) -> str:
        clean = {k: (v if k in _STANDARD_KEYS else redact(v, k)) for k, v in log.items()}
        return super().serialize(clean)


logger = Logger(logger_formatter=RedactingFormatter())
