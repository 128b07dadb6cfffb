"""/api/payment-connection — the professional's PSP connection for automatic PIX confirmation (PUT, GET, DELETE).

PUT validates the credentials at the PSP (a token over mTLS, Odys's webhook registered for the key) and stores
them sealed with KMS; every answer shows the connection's status, never its secrets (:mod:`odys.pix_connections`).
"""

from odys import pix_connections
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, no_content, parse_body

app = create_app()
HEADERS = {"Cache-Control": "private, no-store"}


@app.put("/api/payment-connection", middlewares=authenticated())
@doc(auth="professional", body=pix_connections.ConnectionIn, response="PaymentConnection",
     summary="Connect the professional's PSP for automatic PIX confirmation (validated at the PSP first)",
     problems={422: ["api_base_url_missing", "certificate_invalid", "pix_key_missing", "psp_refused"],
               503: ["psp_unavailable"]})
def put_payment_connection():
    data = parse_body(app, pix_connections.ConnectionIn)
    return json_response(200, pix_connections.put(app.context["user_id"], data), headers=HEADERS)


@app.get("/api/payment-connection", middlewares=authenticated())
@doc(auth="professional", response="PaymentConnection", summary="The PSP connection's state (never its secrets)",
     problems={404: ["payment_connection_not_found"]})
def get_payment_connection():
    return json_response(200, pix_connections.show(app.context["user_id"]), headers=HEADERS)


@app.delete("/api/payment-connection", middlewares=authenticated())
@doc(auth="professional", response=204,
     summary="Disconnect the PSP: Odys's webhook removed there (best effort), the credentials deleted",
     problems={404: ["payment_connection_not_found"]})
def delete_payment_connection():
    pix_connections.remove(app.context["user_id"])
    return no_content()


lambda_handler = lambda_handler_for(app)
