"""The professional's data export (LGPD portability): everything they own as one JSON document, on every plan;
spreadsheets (CSV) of appointments, clients or payments with the Pro plan's ``export`` feature.

    delivery = account_export.export(user_id, ExportQuery(), accepts_gzip=True)
    # -> Inline(data=b"\\x1f\\x8b...", media_type="application/json", gzipped=True,
    #           filename="odys-ana-psi-2026-12-02.json")
    delivery = account_export.export(user_id, ExportQuery(format="csv", what="payments"), accepts_gzip=False)
    # -> Inline(data=b"\\xef\\xbb\\xbfData;In\\xc3\\xadcio;...", media_type="text/csv; charset=utf-8",
    #           gzipped=False, filename="odys-ana-psi-payments-2026-12-02.csv")
    # an export whose answer would pass EXPORT_INLINE_MAX_BYTES -> Link(url="https://...", expires_at=..., ...)

**The document** (``schemaVersion`` :data:`SCHEMA_VERSION`; camelCase, times ISO 8601 in UTC, the professional's
time zone in ``professional.timezone``, money in integer cents)::

    {"schemaVersion": 1, "kind": "odys.account-export", "exportedAt": "...",
     "professional": {id, userId, name, slug, phone, email, profession, ..., pixKeyType, pixKey, ...},
     "subscription": {plan, effectivePlan, trialEndsAt, stripeCustomerId, stripeSubscriptionId},
     "followers": {"count": 12},
     "availability": [...], "clients": [...], "recurringSchedules": [...], "appointments": [...],
     "clientNotes": [...], "messages": [...], "notifications": [...], "reviews": [...], "messageTemplates": [...],
     "deletionAudit": [...],
     "counts": {"availability": 5, "clients": 2000, ...}}

Rows refer to each other by id (``clientId``, ``appointmentId``, ``recurringScheduleId``); each array's columns are
listed in :mod:`odys.store.account_export` (and what is left out, with the reason). ``counts`` closes the document:
the number of rows of each array, to check a copy is whole. All of it is read in one read-only snapshot.

**Spreadsheets** (``format=csv``): UTF-8 with a BOM, ``;``-separated (what Excel in Brazil opens as columns),
RFC 4180 quoting, CRLF lines, Portuguese headers and labels; dates and times are local to the professional's time
zone (``2026-12-03``, ``14:30``); money twice: ``150,00`` (reais, decimal comma: a number to Excel pt-BR) and
``15000`` (cents). A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR is prefixed with ``'`` so that a
spreadsheet never runs it as a formula (a phone shows as ``'+5511…``).

**Size**: rows are read BATCH at a time through a server-side cursor and written straight into a gzip stream
(a temporary file past :data:`SPOOL_BYTES`): memory holds one batch, never the table. The answer is inline
when its body (base64, as Lambda carries binary) fits ``EXPORT_INLINE_MAX_BYTES`` (default 6,000,000, under the
6 MB response limit with room for the headers): gzip-encoded when the client accepts it, else plain. Otherwise
the file goes to the export bucket (``EXPORT_BUCKET``; gzip-encoded when the client accepts it) and the answer is
a :class:`Link` valid ``EXPORT_URL_TTL_SECONDS`` (default 900); if S3 fails, 503 ``export_storage_unavailable``
(the snapshot's transaction ended before the upload; the temporary file is closed, so gone, whatever happens).

**Time**: the answer must come within API Gateway's 30 s (the function's Timeout is 29 s). Building stops once
``EXPORT_BUILD_SECONDS`` (default 20: several times what a five-year practice takes) have passed, with 503
``export_too_large`` and an error log, rather than a Lambda timeout the client would see as a bare 5xx.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from odys import caller, clock, config, db, export_bucket, plans
from odys.appointment_views import local_date
from odys.errors import OnboardingRequired, PlanLimitReached, ServiceUnavailable
from odys.fields import ApiModel
from odys.jsonfmt import to_json
from odys.log import logger
from odys.store import account_export as store

SCHEMA_VERSION = 1
FEATURE = "export"
SPOOL_BYTES = 8 * 1024 * 1024  # the compressed file stays in memory up to this, then moves to /tmp
DEFAULT_INLINE_MAX_BYTES = 6_000_000
DEFAULT_URL_TTL_SECONDS = 900
DEFAULT_BUILD_SECONDS = 20  # reading and compressing; the rest of the function's 29 s is for the upload and answer
JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportQuery(ApiModel):
    format: Literal["json", "csv"] = "json"
    what: Literal["appointments", "clients", "payments"] | None = Field(default=None, validate_default=True)

    @field_validator("what")
    @classmethod
    def _what_goes_with_csv(cls, what: str | None, info: ValidationInfo) -> str | None:
        """A problem of ``what`` (the error names it): required with format=csv, refused with the JSON document."""
        format_ = info.data.get("format")  # absent when format itself is invalid: that is the error then
        if format_ == "csv" and what is None:
            raise ValueError("format=csv needs what=appointments, clients or payments")
        if format_ == "json" and what is not None:
            raise ValueError("what= is for format=csv; the JSON document holds everything")
        return what


@dataclass(frozen=True)
class Inline:
    """The export in the answer's body (``gzipped``: the body is gzip, sent with Content-Encoding: gzip)."""

    data: bytes
    media_type: str
    gzipped: bool
    filename: str


@dataclass(frozen=True)
class Link:
    """The export in the bucket: a presigned GET ``url`` valid until ``expires_at``."""

    url: str
    expires_at: dt.datetime
    media_type: str
    gzipped: bool
    filename: str
    size_bytes: int  # of the file as stored (compressed when gzipped)


class _GzipSink:
    """Text in, UTF-8 gzip out into a spooled temporary file, counting the uncompressed bytes."""

    def __init__(self, deadline: float) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by owner
        self._gzip = gzip.GzipFile(fileobj=self.file, mode="wb", compresslevel=6, mtime=0)
        self.raw_bytes = 0
        self._deadline = deadline  # time.monotonic() past which the export gives up (see _too_large)

    def write(self, text: str) -> None:
        if time.monotonic() >= self._deadline:
            raise _too_large(self.raw_bytes)
        data = text.encode()
        self.raw_bytes += len(data)
        self._gzip.write(data)

    def finish(self) -> int:
        """Close the gzip stream; the compressed size."""
        self._gzip.close()
        size = self.file.tell()
        self.file.seek(0)
        return size

    def close(self) -> None:
        """Drop the stream and its file, the gzip stream first: on Python 3.13 a gzip stream left open writes its
        trailer when it is collected, to a file closed by then (an export that failed half-way)."""
        self._gzip.close()  # idempotent; writes the trailer into the still-open file
        self.file.close()


def export(user_id: str, query: ExportQuery, *, accepts_gzip: bool) -> Inline | Link:
    professional = caller.professional(user_id)
    now = clock.now()
    if query.format == "csv":
        _require_feature(professional, now)
    sink = _GzipSink(time.monotonic() + config.env_int("EXPORT_BUILD_SECONDS", DEFAULT_BUILD_SECONDS))
    try:
        with db.transaction():
            store.snapshot()
            counts = (_write_csv(sink, professional, query.what) if query.what
                      else _write_document(sink, professional["id"], now))
        gzip_bytes = sink.finish()
        media_type = CSV_MEDIA_TYPE if query.what else JSON_MEDIA_TYPE
        kind = f"{query.what}-" if query.what else ""
        day = local_date(now, professional["timezone"]).isoformat()
        name = f"odys-{professional['slug']}-{kind}{day}.{query.format}"
        delivery = _deliver(sink, gzip_bytes, professional["id"], media_type=media_type, filename=name,
                            accepts_gzip=accepts_gzip, now=now)
    finally:
        sink.close()
    logger.info("account exported", extra={"professional_id": str(professional["id"]), "format": query.format,
                                            "what": query.what, "counts": counts, "raw_bytes": sink.raw_bytes,
                                            "gzip_bytes": gzip_bytes, "delivery": type(delivery).__name__.lower()})
    return delivery


def _too_large(raw_bytes: int) -> ServiceUnavailable:
    logger.error("account export stopped: longer to build than a request may last",
                 extra={"raw_bytes_so_far": raw_bytes})
    return ServiceUnavailable("This export takes longer to build than a request may last: the practice's data "
                              "is too large to export here. Please contact support, who will "
                              "produce the complete file for you.", code="export_too_large")


def _require_feature(professional: dict[str, Any], now: dt.datetime) -> None:
    plan = plans.effective_plan(professional["plan"], professional["trial_ends_at"], now)
    if not plans.has_feature(plan, FEATURE):
        raise PlanLimitReached("export", current_plan=plan, required_plan=plans.plan_with_feature(FEATURE),
                               detail="Spreadsheet exports are part of the Pro plan; the JSON export (format=json) "
                                      "is available on every plan.")


# --- the JSON document ---------------------------------------------------------------------------------------

def _camel(row: dict[str, Any]) -> dict[str, Any]:
    return {store.camel(k): v for k, v in row.items()}


def _write_document(sink: _GzipSink, professional_id: Any, now: dt.datetime) -> dict[str, int]:
    pid = str(professional_id)
    row = store.profile(pid)
    if row is None:  # deleted since the request began
        raise OnboardingRequired()
    subscription = {"plan": row["plan"], "effective_plan": plans.effective_plan(row["plan"], row["trial_ends_at"], now),
                    **{k: row[k] for k in store.SUBSCRIPTION_COLUMNS if k != "plan"}}
    head = {"schemaVersion": SCHEMA_VERSION, "kind": "odys.account-export", "exportedAt": now,
            "professional": _camel({k: row[k] for k in store.PROFILE_COLUMNS}),
            "subscription": _camel(subscription), "followers": {"count": store.follower_count(pid)}}
    sink.write(to_json(head)[:-1])  # the object stays open: the arrays follow
    counts: dict[str, int] = {}
    for section in store.SECTIONS:
        sink.write(f',"{section.key}":[')
        count = 0
        for batch in store.json_batches(section, pid):
            sink.write(("," if count else "") + ",".join(batch))
            count += len(batch)
        sink.write("]")
        counts[section.key] = count
    sink.write(f',"counts":{to_json(counts)}}}')
    return counts


# --- spreadsheets ------------------------------------------------------------------------------------------------

STATUS = {"pending": "Pendente", "confirmed": "Confirmado", "completed": "Realizado", "cancelled": "Cancelado",
          "no_show": "Faltou"}
PAYMENT = {"unpaid": "Não pago", "pending": "Aguardando", "paid": "Pago", "refunded": "Reembolsado",
           "waived": "Isento"}


def reais(cents: int) -> str:
    """Cents as a spreadsheet number in Brazil's notation.

    >>> reais(123456), reais(5)
    ('1234,56', '0,05')
    """
    return f"{cents // 100},{cents % 100:02d}"


def _yes(value: bool) -> str:
    return "Sim" if value else "Não"


# header -> the cell of a row, per spreadsheet (the rows of store.CSV_QUERIES)
Columns = dict[str, Callable[[dict[str, Any]], Any]]
CSV_COLUMNS: dict[str, Columns] = {
    "appointments": {
        "Data": lambda r: r["date"], "Início": lambda r: r["start_time"], "Fim": lambda r: r["end_time"],
        "Cliente": lambda r: r["client_name"], "Telefone": lambda r: r["client_phone"],
        "Status": lambda r: STATUS[r["status"]], "Valor (R$)": lambda r: reais(r["price"]),
        "Valor (centavos)": lambda r: r["price"], "Pagamento": lambda r: PAYMENT[r["payment_status"]],
        "Recorrente": lambda r: _yes(r["recurring"]), "Notas": lambda r: r["notes"],
        "Notas do cliente": lambda r: r["client_notes"], "ID": lambda r: r["id"]},
    "clients": {
        "Nome": lambda r: r["name"], "Telefone": lambda r: r["phone"], "E-mail": lambda r: r["email"],
        "Cliente desde": lambda r: r["created_on"], "Sessões realizadas": lambda r: r["completed_appointments"],
        "Última sessão": lambda r: r["last_appointment_on"],
        "Não recebe WhatsApp": lambda r: _yes(r["whatsapp_opted_out"]), "ID": lambda r: r["id"]},
    "payments": {
        "Data": lambda r: r["date"], "Início": lambda r: r["start_time"], "Cliente": lambda r: r["client_name"],
        "Telefone": lambda r: r["client_phone"], "Valor (R$)": lambda r: reais(r["price"]),
        "Valor (centavos)": lambda r: r["price"], "Pagamento": lambda r: PAYMENT[r["payment_status"]],
        "Status da sessão": lambda r: STATUS[r["status"]], "PIX txid": lambda r: r["pix_txid"],
        "ID da sessão": lambda r: r["id"]},
}


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula (CSV injection).

    >>> safe_cell("=HYPERLINK(\\"http://x\\")"), safe_cell("+5511987654321"), safe_cell("Ana"), safe_cell(15000)
    ('\\'=HYPERLINK("http://x")', "'+5511987654321", 'Ana', 15000)
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def _csv_lines(rows: Iterable[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _write_csv(sink: _GzipSink, professional: dict[str, Any], what: str) -> dict[str, int]:
    columns = CSV_COLUMNS[what]
    sink.write(BOM + _csv_lines([list(columns)]))
    count = 0
    for batch in store.csv_batches(what, str(professional["id"]), timezone=professional["timezone"]):
        sink.write(_csv_lines([safe_cell(cell(r)) for cell in columns.values()] for r in batch))
        count += len(batch)
    return {what: count}


# --- delivery ----------------------------------------------------------------------------------------------------

def base64_size(n: int) -> int:
    """The length of ``n`` bytes in base64 (how Lambda carries a binary body).

    >>> base64_size(3), base64_size(4), base64_size(6_000_000)
    (4, 8, 8000000)
    """
    return -(-n // 3) * 4


def _deliver(sink: _GzipSink, gzip_bytes: int, professional_id: Any, *, media_type: str, filename: str,
             accepts_gzip: bool, now: dt.datetime) -> Inline | Link:
    limit = config.env_int("EXPORT_INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES)
    if base64_size(gzip_bytes if accepts_gzip else sink.raw_bytes) <= limit:
        data = sink.file.read()
        return Inline(data if accepts_gzip else gzip.decompress(data), media_type, accepts_gzip, filename)
    ttl = config.env_int("EXPORT_URL_TTL_SECONDS", DEFAULT_URL_TTL_SECONDS)
    fileobj: IO[bytes] = sink.file if accepts_gzip else gzip.GzipFile(fileobj=sink.file, mode="rb")  # type: ignore
    try:
        key = export_bucket.put(fileobj, name=filename, prefix=str(professional_id), content_type=media_type,
                                content_encoding="gzip" if accepts_gzip else None)
        url = export_bucket.presigned_url(key, expires_in=ttl)
    except export_bucket.ExportBucketNotConfigured:
        logger.error("export too large for a response and EXPORT_BUCKET is not configured")
        raise _storage_unavailable() from None
    except export_bucket.ExportBucketUnavailable as error:
        logger.error("export upload to the bucket failed", extra={"error": error.reason})
        raise _storage_unavailable() from None
    return Link(url, now + dt.timedelta(seconds=ttl), media_type, accepts_gzip, filename,
                gzip_bytes if accepts_gzip else sink.raw_bytes)


def _storage_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("This export is too large to send directly and its storage is unavailable. "
                              "Please retry later.", code="export_storage_unavailable")
