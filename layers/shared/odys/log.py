"""Structured logging (Powertools Logger) that never writes personal data or secrets, and never fails its caller.

    from odys.log import logger
    logger.info("booking created", extra={"appointment_id": appt_id, "phone": "+5511999990000"})
    # -> {"message": "booking created", "appointment_id": "...", "phone": "[redacted]", ...}
    logger.info("series extended", extra={"created": 3})       # a LogRecord attribute: logged as "extra_created"
    logger.exception("unhandled error")                         # the exception's text is scrubbed too
    logger.start_request(event, context)     # an HTTP function's handler, before anything else (odys.http)

Redaction, applied to every field but Powertools' own (level, location, timestamp, service, correlation_id, …):

* **Keys.** A key naming personal data or a credential is replaced by ``[redacted]`` wherever it appears (nested
  too): one of :data:`SENSITIVE_KEYS`, or a key with a word of :data:`SENSITIVE_WORDS` (``client_phone``,
  ``clientName``, ``manage_token``).
* **Free text.** E-mail addresses, bearer tokens, JWTs and phone-like numbers (8 to 15 digits, optionally with
  ``+``, spaces, dashes, dots, slashes or parentheses: phones, CPF/CNPJ, IP addresses) are masked. UUIDs, ISO 8601
  dates and times (``2026-11-02T09:00:00+00:00``, ``2026-11-02 09:00:00+00``) and digits inside a longer word
  (``cus_12345678``, hex digests) are left intact, so ids and times in logs can be trusted.
* **Exceptions.** ``exception`` (the traceback text), ``stack_trace`` (``{type, value, module, frames}``) and
  ``exception_notes`` carry each message through :func:`describe_exception`: a database (pg8000) error becomes
  its SQLSTATE and constraint/table/column names only (its message and detail quote row values: "Failing row
  contains (…)", "Key (professional_id, phone)=(…)"); any other message has its quoted literals masked (except
  ``snake_case``/dotted identifiers) and then the free-text rules applied.

Safety: a key of ``extra`` (or a keyword argument) that ``logging`` or Powertools reserves (``created``, ``name``,
``msg``, ``args``, ``module``, ``level``, ``timestamp``, …) is renamed ``extra_<key>`` instead of raising
``KeyError`` or overwriting the line's own fields; a record that cannot be formatted (bad ``%`` arguments, a
value that cannot be serialised) becomes one line saying so; nothing a log call does propagates to its caller.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import traceback
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import RESERVED_LOG_ATTRS, LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.logger import _is_cold_start

__all__ = ["REDACTED", "SENSITIVE_KEYS", "SENSITIVE_WORDS", "describe_exception", "logger", "redact", "scrub"]

REDACTED = "[redacted]"
RENAMED_PREFIX = "extra_"
MAX_DEPTH = 10  # nesting below this is logged as "[truncated]"
MAX_MESSAGE_CHARS = 500  # of one exception message

SENSITIVE_KEYS = frozenset({
    "authorization", "cookie", "set-cookie", "password", "secret", "token", "access_token", "refresh_token",
    "api_key", "phone", "email", "name", "cpf", "cnpj", "pix_key", "pixkey", "body", "notes", "note", "comment",
    "client_notes", "address", "ip", "source_ip",
    "stripe-signature", "x-hub-signature-256", "manage_token", "managetoken", "client_name", "client_phone",
    "x-api-key",
})
SENSITIVE_WORDS = frozenset({  # "note" is not one of them: note_id is an id
    "authorization", "cookie", "password", "passwd", "secret", "token", "phone", "email", "name", "cpf", "cnpj",
    "signature",
})

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
_CLOCK = rf"\d{{2}}:\d{{2}}(?::\d{{2}}(?:[.,]\d{{1,9}})?)?{_OFFSET}?"
_ISO = rf"\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_CLOCK}|{_OFFSET})?"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_JWT = r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"
# 8 to 15 digits, not inside a word or an id, possibly led by + or ( and separated by up to 2 of " ().-/".
_PHONE = r"(?<![\w-])(?<!\d[.:/])\+?\(?\d(?:[ ().\-/]{0,2}\d){7,14}(?![\w-]|[.:/]\d)"
_TEXT = rf"(?P<keep>{_UUID}|{_ISO}|{_CLOCK})|(?P<bearer>(?i:bearer)\s+)[\w.~+/=-]+|{_EMAIL}|{_JWT}|{_PHONE}"
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9]*(?:[._][A-Za-z0-9]+)+")

# Powertools' own fields: written as they are.
_TRUSTED_KEYS = frozenset({"level", "location", "timestamp", "service", "sampling_rate", "cold_start",
                           "function_name", "function_memory_size", "function_arn", "function_request_id",
                           "correlation_id", "xray_trace_id"})
# Filled by this module's formatter from the record's exception, already described: free-text rules only.
_EXCEPTION_KEYS = frozenset({"exception", "exception_name", "exception_notes", "stack_trace"})
# Keys a log call may not set as they are: LogRecord attributes (3.12 added taskName) and the line's own fields.
_RESERVED_KEYS = (frozenset(logging.makeLogRecord({}).__dict__) | frozenset(RESERVED_LOG_ATTRS)
                  | {"message", "asctime", "taskName"} | _TRUSTED_KEYS | _EXCEPTION_KEYS)
_CALL_OPTIONS = frozenset({"exc_info", "stack_info", "stacklevel"})


def _keep_or_mask(match: re.Match[str]) -> str:
    if match.group("keep"):
        return match.group(0)
    if match.group("bearer"):
        return match.group("bearer") + REDACTED
    return REDACTED


def scrub(text: str) -> str:
    """``text`` with e-mails, phone-like numbers, bearer tokens and JWTs masked; ids and ISO times intact.

    >>> scrub("Ana <ana@example.com>, +55 (11) 98765-4321, at 2026-11-02T09:00:00+00:00")
    'Ana <[redacted]>, [redacted], at 2026-11-02T09:00:00+00:00'
    >>> scrub("appointment 3f1c2b7a-1234-4567-8901-123456789012 from 203.0.113.7")
    'appointment 3f1c2b7a-1234-4567-8901-123456789012 from [redacted]'
    """
    return _text_pattern().sub(_keep_or_mask, text)


@functools.cache
def _text_pattern() -> re.Pattern[str]:
    """:data:`_TEXT` compiled on the first line that needs it (~0.65 ms: most requests log nothing)."""
    return re.compile(_TEXT)


@functools.lru_cache(maxsize=1024)
def _sensitive(key: str) -> bool:
    """Whether a value under ``key`` is personal data or a credential.

    >>> [_sensitive(k) for k in ("client_phone", "clientName", "extra_name", "appointment_id", "note_id")]
    [True, True, True, False, False]
    """
    lowered = key.lower()
    if lowered in SENSITIVE_KEYS or lowered.removeprefix(RENAMED_PREFIX) in SENSITIVE_KEYS:
        return True
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower())
    return any(word in SENSITIVE_WORDS for word in words)


def redact(value: Any, key: str | None = None, _depth: int = 0) -> Any:
    """``value`` made safe to log under ``key``: see the module docstring.

    >>> redact({"client": {"name": "Ana", "id": 7}, "note": "call 11 98765-4321"})
    {'client': {'name': '[redacted]', 'id': 7}, 'note': '[redacted]'}
    >>> redact("sent at 2026-11-02 09:00:00+00 to bia@example.com")
    'sent at 2026-11-02 09:00:00+00 to [redacted]'
    """
    if key is not None and _sensitive(key):
        return REDACTED
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return scrub(value)
    if _depth >= MAX_DEPTH:
        return "[truncated]"
    if isinstance(value, dict):
        return {str(k): redact(v, str(k), _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(v, None, _depth + 1) for v in value]
    if isinstance(value, BaseException):
        return describe_exception(value)
    try:
        text = str(value)  # datetimes, UUIDs, Decimals, anything else: as text
    except Exception:  # a broken __str__ must not cost the whole line
        return "(unprintable)"
    return scrub(text)


def _database_fields(error: BaseException) -> dict[str, Any] | None:
    """The server's error fields of a pg8000 DatabaseError (``args[0]``: C = SQLSTATE, n = constraint, …)."""
    if not type(error).__module__.startswith("pg8000"):
        return None
    fields = error.args[0] if error.args else None
    return fields if isinstance(fields, dict) and "C" in fields else None


def _mask_quoted(match: re.Match[str]) -> str:
    inner = match.group(0)[1:-1]
    return match.group(0) if _IDENTIFIER.fullmatch(inner) else match.group(0)[0] + REDACTED + match.group(0)[-1]


def describe_exception(error: BaseException) -> str:
    """The message of ``error`` without personal data.

    >>> describe_exception(KeyError("Ana Souza"))
    "'[redacted]'"
    >>> describe_exception(KeyError("starts_at"))
    "'starts_at'"
    >>> describe_exception(ValueError("no slot at 2026-11-02T09:00:00+00:00 for +5511987654321"))
    'no slot at 2026-11-02T09:00:00+00:00 for [redacted]'
    """
    fields = _database_fields(error)
    if fields is not None:
        parts = [f"SQLSTATE {fields.get('C')}"]
        parts += [f"{label} {fields[code]}" for code, label in (("n", "constraint"), ("t", "table"), ("c", "column"))
                  if fields.get(code)]
        return ", ".join(parts)
    try:
        text = str(error)
    except Exception:  # a broken __str__ must not break the log line
        return "(message unavailable)"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "…"
    return scrub(_QUOTED.sub(_mask_quoted, text))


def _chain(error: BaseException) -> list[tuple[BaseException, str | None]]:
    """``error`` and the exceptions it was raised from or while handling, oldest first, each with its link text."""
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    link: str | None = None
    while current is not None and id(current) not in seen and len(chain) < 8:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "The above exception was the direct cause of the following exception:"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "During handling of the above exception, another exception occurred:"
        else:
            current = None
    chain.reverse()  # each link text now follows the older exception it introduces the newer one after
    return chain


def _exception_fields(error: BaseException) -> dict[str, Any]:
    """``exception``, ``exception_name``, ``stack_trace`` (and ``exception_notes``) of a log line, described."""
    parts: list[str] = []
    for exc, link in _chain(error):
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            parts.append("Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)))
        parts.append(f"{type(exc).__qualname__}: {describe_exception(exc)}\n")
        if link:
            parts.append(f"\n{link}\n\n")
    fields: dict[str, Any] = {
        "exception": "".join(parts).rstrip("\n"),
        "exception_name": type(error).__name__,
        "stack_trace": {
            "type": type(error).__name__, "value": describe_exception(error), "module": type(error).__module__,
            "frames": [{"file": f.filename, "line": f.lineno, "function": f.name, "statement": f.line}
                       for f in traceback.extract_tb(error.__traceback__)],
        },
    }
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):
        fields["exception_notes"] = [scrub(str(note)) for note in notes]
    return fields


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, redacted; a record that cannot be formatted becomes a line saying so."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(serialize_stacktrace=False, **kwargs)  # stack_trace comes from _exception_fields

    def format(self, record: logging.LogRecord) -> str:  # noqa: A003 - logging's name
        try:
            if isinstance(record.exc_info, tuple) and isinstance(record.exc_info[1], BaseException):
                error = record.exc_info[1]
                record = logging.makeLogRecord(record.__dict__)  # a copy: other handlers keep the original
                record.exc_info, record.exc_text = None, None
                record.__dict__.update(_exception_fields(error))
            return super().format(record)
        except Exception as failure:
            return self._unformattable(record, failure)

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        clean = {k: (v if k in _TRUSTED_KEYS else redact(v, None if k in _EXCEPTION_KEYS else k))
                 for k, v in log.items()}
        return super().serialize(clean)

    def _unformattable(self, record: logging.LogRecord, failure: Exception) -> str:
        line = {"level": getattr(record, "levelname", "ERROR"),
                "location": f"{getattr(record, 'funcName', '?')}:{getattr(record, 'lineno', 0)}",
                "message": "log record could not be formatted", "error_type": type(failure).__name__}
        try:
            line["timestamp"] = self.formatTime(record)
        except Exception:
            pass
        return json.dumps(line, separators=(",", ":"))


def _safe_extra(extra: dict[Any, Any]) -> dict[str, Any]:
    """``extra`` with each reserved key renamed ``extra_<key>`` (``created`` -> ``extra_created``).

    >>> _safe_extra({"created": 2, "appointment_id": "a-1"})
    {'extra_created': 2, 'appointment_id': 'a-1'}
    """
    return {(RENAMED_PREFIX + str(k) if str(k) in _RESERVED_KEYS else str(k)): v for k, v in extra.items()}


class SafeLogger(Logger):
    """Powertools' Logger whose log calls never raise (see the module docstring)."""

    _request_template: tuple[Any, dict[str, Any]] = (None, {})  # (formatter, its keys before a request's own)

    def start_request(self, event: Any, context: Any) -> None:
        """The keys of every line of this request, as ``inject_lambda_context(clear_state=True,
        correlation_id_path=correlation_paths.API_GATEWAY_HTTP)`` sets them (the same keys in the same order), for
        a few µs instead of that decorator's tens: the previous request's keys dropped, then ``service``,
        ``sampling_rate``, ``cold_start``, the Lambda context's ``function_name``, ``function_memory_size``,
        ``function_arn``, ``function_request_id``, and ``correlation_id`` (API Gateway's request id).
        """
        formatter = self.registered_formatter
        if self._request_template[0] is not formatter:  # what clear_state + the default keys give: once
            template = dict.fromkeys(formatter.log_record_order)
            template.update(formatter.keys_combined)
            template.update(self._default_log_keys)
            self._request_template = (formatter, template)
        formatter.thread_safe_clear_keys()
        cold_start = _is_cold_start()
        request_context = event.get("requestContext") if isinstance(event, dict) else None
        keys = self._request_template[1].copy()
        keys["cold_start"] = cold_start
        keys["function_name"] = context.function_name
        keys["function_memory_size"] = context.memory_limit_in_mb
        keys["function_arn"] = context.invoked_function_arn
        keys["function_request_id"] = context.aws_request_id
        keys["correlation_id"] = request_context.get("requestId") if isinstance(request_context, dict) else None
        formatter.log_format = keys
        if self.sampling_rate and not cold_start:
            self.refresh_sample_rate_calculation()

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        self._log_safely("debug", msg, args, kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        self._log_safely("info", msg, args, kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        self._log_safely("warning", msg, args, kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        self._log_safely("error", msg, args, kwargs)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        self._log_safely("critical", msg, args, kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        self._log_safely("exception", msg, args, kwargs)

    def _log_safely(self, level: str, msg: object, args: tuple[object, ...], kwargs: dict[str, Any]) -> None:
        try:
            extra = dict(kwargs.pop("extra", None) or {})
            extra.update({k: kwargs.pop(k) for k in list(kwargs) if k not in _CALL_OPTIONS})
            # Two frames of ours (this method and the public one) between the caller and Powertools' method.
            kwargs["stacklevel"] = int(kwargs.get("stacklevel", 2)) + 2
            getattr(super(), level)(msg, *args, extra=_safe_extra(extra), **kwargs)
        except Exception as failure:  # a log call must never fail the request that makes it
            try:
                super().error("log call failed", extra={"error_type": type(failure).__name__})
            except Exception:
                pass


logger = SafeLogger(logger_formatter=RedactingFormatter())
