"""/api/appointments/{id}/pix — PIX BR Code and QR for an appointment (GET, its professional or its client)."""

from odys import appointment_pix
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, path_uuid

app = create_app()


@app.get("/api/appointments/<appointment_id>/pix", middlewares=authenticated())
@doc(auth="user", path={"id": "appointment"}, response="AppointmentPix", problems={409: ["pix_key_missing"]})
def get_appointment_pix(appointment_id: str):
    code = appointment_pix.for_user(app.context["user_id"], path_uuid(appointment_id, "appointment"))
    return json_response(200, code, headers={"Cache-Control": "private, no-store"})


lambda_handler = lambda_handler_for(app)
