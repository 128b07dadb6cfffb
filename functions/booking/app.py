"""/api/booking — a client books an offered slot (public; rate limit `booking` by IP; optional Idempotency-Key)."""

from odys import booking
from odys.api_docs import doc
from odys.http import create_app, json_response, lambda_handler_for, parse_body, public

app = create_app()


@app.post("/api/booking", middlewares=public("booking"))
@doc(auth="public", body=booking.BookingIn, response=(201, "Booking"), location=True,
     request_headers={"Idempotency-Key": "repeat a booking safely: the same key answers the first result"},
     problems={400: ["invalid_idempotency_key"], 402: ["plan_limit_reached"], 404: ["not_found"],
               409: ["slot_taken", "idempotency_key_in_use"], 422: ["slot_unavailable", "idempotency_key_reused"]})
def create_booking():
    data = parse_body(app, booking.BookingIn)
    outcome = booking.book(data, app.current_event.headers.get("idempotency-key"))
    headers = {"Location": f"/api/booking/{outcome.body['manageToken']}"}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(outcome.status, outcome.body, headers=headers)


lambda_handler = lambda_handler_for(app)
