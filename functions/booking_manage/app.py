"""/api/booking/{token} — the client's own booking through its signed link: view (GET), cancel or reschedule (PATCH)."""

from odys import booking
from odys.api_docs import doc
from odys.http import create_app, json_response, lambda_handler_for, parse_body, public

app = create_app()


@app.get("/api/booking/<token>", middlewares=public())
@doc(auth="public", response="Booking", problems={404: ["booking_not_found"]})
def get_booking(token: str):
    return json_response(200, booking.show(token))


@app.patch("/api/booking/<token>", middlewares=public("booking"))
@doc(auth="public", body=booking.BookingChange, response="Booking",
     problems={404: ["booking_not_found"], 422: ["slot_unavailable"],
               409: ["already_cancelled", "booking_closed", "not_reschedulable", "slot_taken"]})
def change_booking(token: str):
    return json_response(200, booking.change(token, parse_body(app, booking.BookingChange)))


lambda_handler = lambda_handler_for(app)
