"""/api/booking/{token} — the client's own booking through its signed link: view (GET), cancel or reschedule (PATCH)."""

from odys import booking
from odys.http import create_app, json_response, lambda_handler_for, parse_body, public

app = create_app()


@app.get("/api/booking/<token>", middlewares=public())
def get_booking(token: str):
    return json_response(200, booking.show(token))


@app.patch("/api/booking/<token>", middlewares=public("booking"))
def change_booking(token: str):
    return json_response(200, booking.change(token, parse_body(app, booking.BookingChange)))


lambda_handler = lambda_handler_for(app)
