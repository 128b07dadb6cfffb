"""/api/appointments/{id} — read (GET), change status/payment/time/notes (PATCH), delete (DELETE)."""

from odys import appointments
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, no_content, parse_body, path_uuid

app = create_app()


@app.get("/api/appointments/<appointment_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "appointment"}, response="Appointment")
def get_appointment(appointment_id: str):
    return json_response(200, appointments.get(app.context["user_id"], path_uuid(appointment_id, "appointment")))


@app.patch("/api/appointments/<appointment_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "appointment"}, body=appointments.AppointmentUpdate, response="Appointment",
     problems={409: ["slot_taken", "invalid_status_transition", "invalid_payment_transition", "not_reschedulable"],
               422: ["null_not_allowed"]})
def update_appointment(appointment_id: str):
    appointment_id = path_uuid(appointment_id, "appointment")
    return json_response(200, appointments.update(app.context["user_id"], appointment_id,
                                                  parse_body(app, appointments.AppointmentUpdate)))


@app.delete("/api/appointments/<appointment_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "appointment"}, response=204)
def delete_appointment(appointment_id: str):
    appointments.delete(app.context["user_id"], path_uuid(appointment_id, "appointment"))
    return no_content()


lambda_handler = lambda_handler_for(app)
