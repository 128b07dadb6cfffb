"""/api/clients, /api/clients/{id}, /api/clients/{id}/notes and /api/client-notes/{id} through real API Gateway
v2 events."""

from __future__ import annotations

import datetime as dt
import uuid

from conftest import onboarding_body
from test_account import assert_problem

from odys import db

UTC = dt.timezone.utc


def new_client(api, token, name="João da Silva", phone="+5511988887777", **extra):
    result = api.post("/api/clients", token=token, json_body={"name": name, "phone": phone, **extra})
    assert result.status == 201, result.body
    return result.json


def second_professional(api, token_for):
    token = token_for()
    result = api.post("/api/account", token=token, json_body=onboarding_body(
        "bia-nutri", phone="+5521977776666", email="bia@example.com"))
    assert result.status == 201, result.body
    return token, result.json


def end_trial(professional_id, plan="free"):
    db.run("UPDATE professionals SET plan = :plan, trial_ends_at = now() - interval '1 day' WHERE id = :id",
           plan=plan, id=professional_id)


def insert_appointment(pid, cid, starts_at, *, minutes=50, status="confirmed", payment="unpaid", price=15000):
    return str(db.scalar(
        "INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, payment_status, price) "
        "VALUES (:p, :c, :s, :e, :st, :pay, :price) RETURNING id", p=pid, c=cid, s=starts_at,
        e=starts_at + dt.timedelta(minutes=minutes), st=status, pay=payment, price=price))


# --- /api/clients -------------------------------------------------------------------------------------------------

def test_create_client_normalises_phone_and_lists_it(api, professional):
    token, pro = professional
    result = api.post("/api/clients", token=token, json_body={
        "name": "  João da Silva ", "phone": "(11) 98888-7777", "email": "Joao@Example.com"})
    assert result.status == 201, result.body
    body = result.json
    assert result.headers["Location"] == f"/api/clients/{body['id']}"
    assert body["name"] == "João da Silva" and body["phone"] == "+5511988887777"
    assert body["email"] == "joao@example.com" and body["hasAccount"] is False
    row = db.one("SELECT professional_id, phone FROM clients WHERE id = :id", id=body["id"])
    assert str(row["professional_id"]) == pro["id"] and row["phone"] == "+5511988887777"
    listed = api.get("/api/clients", token=token).json
    assert [c["id"] for c in listed["clients"]] == [body["id"]] and listed["nextCursor"] is None
    assert listed["clients"][0]["nextAppointmentAt"] is None


def test_duplicate_phone_is_409_with_existing_client_id(api, professional):
    token, _ = professional
    first = new_client(api, token)
    result = api.post("/api/clients", token=token, json_body={"name": "Outro", "phone": "11 98888 7777"})
    body = assert_problem(result, 409, "client_exists")
    assert body["clientId"] == first["id"]
    assert db.scalar("SELECT count(*) FROM clients") == 1


def test_same_phone_is_fine_for_another_professional(api, professional, token_for):
    token, _ = professional
    new_client(api, token)
    other, _ = second_professional(api, token_for)
    assert api.post("/api/clients", token=other, json_body={"name": "J", "phone": "+5511988887777"}).status == 201


def test_invalid_client_fields_are_422(api, professional):
    token, _ = professional
    body = assert_problem(api.post("/api/clients", token=token, json_body={
        "name": "", "phone": "123", "email": "nope", "cpf": "1"}), 422, "validation_error")
    assert {e["field"] for e in body["errors"]} == {"name", "phone", "email", "cpf"}
    assert_problem(api.post("/api/clients", token=token, body="{", headers={"content-type": "application/json"}),
                   400, "malformed_json")


def test_client_limit_of_free_plan_is_402_and_notifies_once(api, professional):
    token, pro = professional
    end_trial(pro["id"])
    for i in range(10):
        db.run("INSERT INTO clients (professional_id, name, phone) VALUES (:p, :n, :ph)",
               p=pro["id"], n=f"C{i}", ph=f"+55119000000{i:02d}")
    body = assert_problem(api.post("/api/clients", token=token, json_body={"name": "X", "phone": "+5511911112222"}),
                          402, "plan_limit_reached")
    assert body["currentPlan"] == "free" and body["requiredPlan"] == "basic"
    assert db.scalar("SELECT count(*) FROM clients") == 10
    assert_problem(api.post("/api/clients", token=token, json_body={"name": "X", "phone": "+5511911112223"}),
                   402, "plan_limit_reached")
    notices = db.all("SELECT kind FROM notifications WHERE recipient_id = :p", p=pro["id"])
    assert notices == [{"kind": "plan_limit_reached"}]
    # a duplicate is still reported as a duplicate, not as a limit
    assert_problem(api.post("/api/clients", token=token, json_body={"name": "X", "phone": "+5511900000000"}),
                   409, "client_exists")


def test_search_is_accent_and_case_insensitive_or_by_phone_digits(api, professional):
    token, _ = professional
    joao = new_client(api, token, "João Araújo", "+5511988887777")
    maria = new_client(api, token, "Maria 50% Souza", "+5521977770001")
    new_client(api, token, "Ana_Paula", "+5531966660002")

    def names(q):
        result = api.get("/api/clients", token=token, query={"q": q})
        assert result.status == 200, result.body
        return [c["name"] for c in result.json["clients"]]

    assert names("joao") == ["João Araújo"]
    assert names("ARAUJO") == ["João Araújo"]
    assert names("(11) 98888") == ["João Araújo"]
    assert names("977770001") == ["Maria 50% Souza"]
    assert names("50%") == ["Maria 50% Souza"]   # % is literal, not a wildcard
    assert names("a_p") == ["Ana_Paula"]          # _ is literal too
    assert names("nobody") == []
    assert names("") == ["Ana_Paula", "João Araújo", "Maria 50% Souza"]
    assert {joao["id"], maria["id"]} <= {c["id"] for c in api.get("/api/clients", token=token).json["clients"]}


def test_client_list_paginates_by_name_with_opaque_cursor(api, professional):
    token, pro = professional
    for i, name in enumerate(["Eva", "Bruno", "Dora", "Ana", "Caio"]):
        db.run("INSERT INTO clients (professional_id, name, phone) VALUES (:p, :n, :ph)",
               p=pro["id"], n=name, ph=f"+55119000000{i:02d}")
    seen, cursor = [], None
    for _ in range(3):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/clients", token=token, query=query).json
        seen += [c["name"] for c in page["clients"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ["Ana", "Bruno", "Caio", "Dora", "Eva"] and cursor is None
    assert_problem(api.get("/api/clients", token=token, query={"cursor": "garbage!"}), 400, "invalid_cursor")
    assert_problem(api.get("/api/clients", token=token, query={"limit": "201"}), 422, "validation_error")
    assert_problem(api.get("/api/clients", token=token, query={"limit": "0"}), 422, "validation_error")
    assert_problem(api.get("/api/clients", token=token, query={"sort": "name"}), 422, "validation_error")


# --- /api/clients/{id} --------------------------------------------------------------------------------------------

def test_client_detail_has_upcoming_past_and_totals(api, professional):
    token, pro = professional
    client = new_client(api, token)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    day = dt.timedelta(days=1)
    insert_appointment(pro["id"], client["id"], now - 10 * day, status="completed", payment="paid", price=15000)
    insert_appointment(pro["id"], client["id"], now - 9 * day, status="completed", payment="unpaid", price=12000)
    insert_appointment(pro["id"], client["id"], now - 8 * day, status="no_show", payment="pending", price=10000)
    insert_appointment(pro["id"], client["id"], now - 7 * day, status="cancelled", price=9000)
    insert_appointment(pro["id"], client["id"], now - 6 * day, status="completed", payment="waived", price=8000)
    soon = insert_appointment(pro["id"], client["id"], now + 2 * day, status="confirmed", price=15000)
    later = insert_appointment(pro["id"], client["id"], now + 9 * day, status="pending", price=15000)
    insert_appointment(pro["id"], client["id"], now + 3 * day, status="cancelled", price=15000)

    result = api.get(f"/api/clients/{client['id']}", token=token)
    assert result.status == 200, result.body
    body = result.json
    assert body["id"] == client["id"] and body["phone"] == "+5511988887777"
    assert [a["id"] for a in body["appointments"]["upcoming"]] == [soon, later]
    past = body["appointments"]["past"]
    assert len(past) == 5 and past[0]["status"] == "completed" and past[0]["paymentStatus"] == "waived"
    assert dt.datetime.fromisoformat(past[0]["startsAt"]) > dt.datetime.fromisoformat(past[-1]["startsAt"])
    assert body["totals"] == {"appointments": 8, "byStatus": {"pending": 1, "confirmed": 1, "completed": 3,
                                                              "cancelled": 2, "no_show": 1},
                              "paidCents": 15000, "dueCents": 22000}
    listed = api.get("/api/clients", token=token).json["clients"][0]
    assert dt.datetime.fromisoformat(listed["nextAppointmentAt"]) == now + 2 * day


def test_patch_client_edits_fields_and_refuses_taken_phone(api, professional):
    token, _ = professional
    joao = new_client(api, token, email="j@example.com")
    maria = new_client(api, token, "Maria", "+5521977770001")
    ok = api.patch(f"/api/clients/{joao['id']}", token=token, json_body={"name": "João S.", "email": None})
    assert ok.status == 200, ok.body
    assert ok.json["name"] == "João S." and ok.json["email"] is None
    assert db.scalar("SELECT email FROM clients WHERE id = :id", id=joao["id"]) is None
    same = api.patch(f"/api/clients/{joao['id']}", token=token, json_body={"phone": "(11) 98888-7777"})
    assert same.status == 200
    body = assert_problem(api.patch(f"/api/clients/{joao['id']}", token=token, json_body={"phone": "21977770001"}),
                          409, "client_exists")
    assert body["clientId"] == maria["id"]
    assert_problem(api.patch(f"/api/clients/{joao['id']}", token=token, json_body={"name": None}), 422,
                   "validation_error")
    assert api.patch(f"/api/clients/{joao['id']}", token=token, json_body={}).json["name"] == "João S."


def test_delete_client_cascades(api, professional):
    token, pro = professional
    client = new_client(api, token)
    insert_appointment(pro["id"], client["id"], dt.datetime.now(UTC) + dt.timedelta(days=3))
    assert api.post(f"/api/clients/{client['id']}/notes", token=token, json_body={"body": "n"}).status == 201
    assert api.delete(f"/api/clients/{client['id']}", token=token).status == 204
    for table in ("clients", "appointments", "client_notes"):
        assert db.scalar(f"SELECT count(*) FROM {table}") == 0
    assert_problem(api.get(f"/api/clients/{client['id']}", token=token), 404, "not_found")
    assert_problem(api.delete(f"/api/clients/{client['id']}", token=token), 404, "not_found")


# --- notes --------------------------------------------------------------------------------------------------------

def test_notes_crud_newest_first_with_pagination(api, professional):
    token, _ = professional
    client = new_client(api, token)
    ids = []
    for text in ("first", "second", "third"):
        result = api.post(f"/api/clients/{client['id']}/notes", token=token, json_body={"body": text})
        assert result.status == 201, result.body
        assert result.headers["Location"] == f"/api/client-notes/{result.json['id']}"
        ids.append(result.json["id"])
    db.run("UPDATE client_notes SET created_at = now() - make_interval(mins => CAST(:m AS integer)) WHERE id = :id",
           m=10, id=ids[0])
    db.run("UPDATE client_notes SET created_at = now() - make_interval(mins => CAST(:m AS integer)) WHERE id = :id",
           m=5, id=ids[1])
    page = api.get(f"/api/clients/{client['id']}/notes", token=token, query={"limit": "2"}).json
    assert [n["body"] for n in page["notes"]] == ["third", "second"]
    rest = api.get(f"/api/clients/{client['id']}/notes", token=token, query={"cursor": page["nextCursor"]}).json
    assert [n["body"] for n in rest["notes"]] == ["first"] and rest["nextCursor"] is None

    edited = api.patch(f"/api/client-notes/{ids[0]}", token=token, json_body={"body": "first, edited"})
    assert edited.status == 200 and edited.json["body"] == "first, edited" and edited.json["clientId"] == client["id"]
    assert db.scalar("SELECT body FROM client_notes WHERE id = :id", id=ids[0]) == "first, edited"
    assert_problem(api.patch(f"/api/client-notes/{ids[0]}", token=token, json_body={"body": "   "}), 422,
                   "validation_error")
    assert_problem(api.post(f"/api/clients/{client['id']}/notes", token=token, json_body={}), 422, "validation_error")
    assert api.delete(f"/api/client-notes/{ids[0]}", token=token).status == 204
    assert db.scalar("SELECT count(*) FROM client_notes") == 2
    assert_problem(api.delete(f"/api/client-notes/{ids[0]}", token=token), 404, "not_found")


# --- isolation and auth ---------------------------------------------------------------------------------------------

def test_another_professionals_clients_and_notes_are_404_everywhere(api, professional, token_for):
    token, _ = professional
    client = new_client(api, token)
    note = api.post(f"/api/clients/{client['id']}/notes", token=token, json_body={"body": "private"}).json
    other, _ = second_professional(api, token_for)
    cid, nid = client["id"], note["id"]
    assert_problem(api.get(f"/api/clients/{cid}", token=other), 404, "not_found")
    assert_problem(api.patch(f"/api/clients/{cid}", token=other, json_body={"name": "Hacked"}), 404, "not_found")
    assert_problem(api.delete(f"/api/clients/{cid}", token=other), 404, "not_found")
    assert_problem(api.get(f"/api/clients/{cid}/notes", token=other), 404, "not_found")
    assert_problem(api.post(f"/api/clients/{cid}/notes", token=other, json_body={"body": "x"}), 404, "not_found")
    assert_problem(api.patch(f"/api/client-notes/{nid}", token=other, json_body={"body": "x"}), 404, "not_found")
    assert_problem(api.delete(f"/api/client-notes/{nid}", token=other), 404, "not_found")
    assert api.get("/api/clients", token=other).json["clients"] == []
    assert db.scalar("SELECT name FROM clients WHERE id = :id", id=cid) == "João da Silva"
    assert db.scalar("SELECT body FROM client_notes WHERE id = :id", id=nid) == "private"
    for path in ("/api/clients/not-a-uuid", "/api/clients/not-a-uuid/notes", "/api/client-notes/123"):
        method = api.patch if "client-notes" in path else api.get
        kwargs = {"json_body": {"body": "x"}} if "client-notes" in path else {}
        assert_problem(method(path, token=token, **kwargs), 404, "not_found")
    assert_problem(api.get(f"/api/clients/{uuid.uuid4()}", token=token), 404, "not_found")


def test_client_routes_need_a_token(api):
    some = str(uuid.uuid4())
    calls = [("GET", "/api/clients"), ("POST", "/api/clients"), ("GET", f"/api/clients/{some}"),
             ("PATCH", f"/api/clients/{some}"), ("DELETE", f"/api/clients/{some}"),
             ("GET", f"/api/clients/{some}/notes"), ("POST", f"/api/clients/{some}/notes"),
             ("PATCH", f"/api/client-notes/{some}"), ("DELETE", f"/api/client-notes/{some}")]
    for method, path in calls:
        assert_problem(api.request(method, path, json_body={"x": 1} if method in ("POST", "PATCH") else None),
                       401, "missing_token")


def test_client_routes_need_onboarding(api, token_for):
    assert_problem(api.get("/api/clients", token=token_for()), 404, "onboarding_required")
