"""`make dev` with the PSP stand-in (issue 13, "Must show"): connect the demo professional to the stand-in, book,
pay at the stand-in, and watch the appointment turn paid within seconds — once, however often the callback comes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
import time
import urllib.request

from booking_helpers import local_today


def _stand_in(make_dev) -> tuple[str, ssl.SSLContext]:
    found = re.search(r"pix\s+stand-in (https://127\.0\.0\.1:\d+) .*?--cacert (\S+)", make_dev.banner)
    assert found, make_dev.banner
    return found.group(1), ssl.create_default_context(cafile=found.group(2))


def _post(url: str, context: ssl.SSLContext, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310 - local stand-in
        return json.loads(response.read())


def test_a_booking_paid_at_the_stand_in_turns_paid_once_under_make_dev(make_dev):
    token = re.search(r"export TOKEN=(\S+)", make_dev.banner).group(1)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    psp, context = _stand_in(make_dev)
    credentials = _post(f"{psp}/_double/credentials", context, {"keys": ["demo@odys.local"]})
    status, connection = make_dev.request("PUT", "/api/payment-connection", json.dumps(credentials), auth)
    assert status == 200 and connection["status"] == "active", connection
    assert credentials["clientSecret"] not in json.dumps(connection)

    day = local_today() + dt.timedelta(days=7)
    status, slots = make_dev.request("GET", f"/api/professionals/demo/slots?from={day}&to={day + dt.timedelta(days=3)}")
    assert status == 200 and slots["slots"], slots
    status, booked = make_dev.request("POST", "/api/booking", json.dumps({
        "slug": "demo", "startsAt": slots["slots"][0]["startsAt"],
        "client": {"name": "Bia Lima", "phone": "+5511988887777"}}), {"Content-Type": "application/json"})
    assert status == 201 and booked["pix"]["kind"] == "dynamic", booked
    appointment_id = booked["appointment"]["id"]

    paid = _post(f"{psp}/_double/pay", context, {"txid": booked["pix"]["txid"], "duplicates": 2})
    assert [d["status"] for d in paid["deliveries"]] == [200, 200, 200], paid
    deadline = time.monotonic() + 10
    while True:
        status, appointment = make_dev.request("GET", f"/api/appointments/{appointment_id}", headers=auth)
        if appointment["paymentStatus"] == "paid" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert appointment["paymentStatus"] == "paid", appointment
    status, notices = make_dev.request("GET", "/api/notifications", headers=auth)
    assert [n["kind"] for n in notices["notifications"]].count("pix_payment_confirmed") == 1

    cancelled_booking = make_dev.request("POST", "/api/booking", json.dumps({
        "slug": "demo", "startsAt": slots["slots"][1]["startsAt"],
        "client": {"name": "Caio Reis", "phone": "+5511977776666"}}), {"Content-Type": "application/json"})[1]
    status, _ = make_dev.request("PATCH", f"/api/appointments/{cancelled_booking['appointment']['id']}",
                                 json.dumps({"status": "cancelled"}), auth)
    assert status == 200
    with urllib.request.urlopen(f"{psp}/_double", context=context, timeout=30) as response:  # noqa: S310
        state = json.loads(response.read())
    charges = {c["txid"]: c["status"] for c in state["charges"]}
    assert charges == {booked["pix"]["txid"]: "CONCLUIDA",
                       cancelled_booking["pix"]["txid"]: "REMOVIDA_PELO_USUARIO_RECEBEDOR"}
    assert credentials["clientSecret"] not in make_dev.output()
