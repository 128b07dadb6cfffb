"""/api/appointments — the professional's agenda: list by range/status/client (GET), create by hand (POST)."""

from odys import appointments
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, parse_query

app = create_app()


@app.get("/api/appointments", middlewares=authenticated())
@doc(auth="professional", query=appointments.AppointmentQuery, response="AppointmentPage")
def list_appointments():
    return json_response(200, appointments.list_page(app.context["user_id"],
                                                     parse_query(app, appointments.AppointmentQuery)))


@app.post("/api/appointments", middlewares=authenticated())
@doc(auth="professional", body=appointments.AppointmentCreate, response=(201, "Appointment"), location=True,
     problems={402: ["plan_limit_reached"], 404: ["not_found"], 409: ["slot_taken"]})
def create_appointment():
    created = appointments.create(app.context["user_id"], parse_body(app, appointments.AppointmentCreate))
    return json_response(201, created, headers={"Location": f"/api/appointments/{created['id']}"})


lambda_handler = lambda_handler_for(app)
