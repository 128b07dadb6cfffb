"""/api/account/export — the professional's data export: the JSON document (every plan) or a spreadsheet
(``?format=csv&what=appointments|clients|payments``, Pro), in the body or, when too large, behind a presigned URL."""

from odys import account_export
from odys.api_docs import doc
from odys.http import (accepts_gzip, authenticated, binary_response, create_app, json_response, lambda_handler_for,
                       parse_query)

app = create_app()


@app.get("/api/account/export", middlewares=authenticated("export"))
@doc(auth="professional", query=account_export.ExportQuery, response="AccountExportAnswer",
     summary="The professional's data export: the JSON document, or a spreadsheet (format=csv, Pro); a link to the "
             "file when it is too large to send",
     other_content={"text/csv": "format=csv: the spreadsheet (UTF-8 with BOM, ;-separated, CRLF; charset=utf-8)"},
     response_headers={"Content-Disposition": "attachment; filename=... (an inline file)",
                       "Content-Encoding": "gzip when the request's Accept-Encoding admits it (an inline file)"},
     problems={402: ["plan_limit_reached"], 503: ["export_storage_unavailable"]})
def get_export():
    query = parse_query(app, account_export.ExportQuery)
    delivery = account_export.export(app.context["user_id"], query, accepts_gzip=accepts_gzip(app))
    if isinstance(delivery, account_export.Link):
        return json_response(200, {"url": delivery.url, "expiresAt": delivery.expires_at,
                                   "filename": delivery.filename, "contentType": delivery.media_type,
                                   "contentEncoding": "gzip" if delivery.gzipped else None,
                                   "sizeBytes": delivery.size_bytes},
                             headers={"Cache-Control": "private, no-store", "Vary": "Accept-Encoding"})
    headers = {"Content-Disposition": f'attachment; filename="{delivery.filename}"',
               "Cache-Control": "private, no-store", "Vary": "Accept-Encoding"}
    if delivery.gzipped:
        headers["Content-Encoding"] = "gzip"
    return binary_response(200, delivery.data, delivery.media_type, headers=headers)


lambda_handler = lambda_handler_for(app)
