"""/api/availability through real API Gateway v2 events."""

from __future__ import annotations

from test_account import assert_problem

from odys import db


def test_put_replaces_all_windows_and_get_returns_them_sorted(api, professional):
    token, _ = professional
    first = {"windows": [{"dayOfWeek": 3, "startTime": "14:00", "endTime": "18:00"},
                         {"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00"},
                         {"dayOfWeek": 1, "startTime": "12:00", "endTime": "13:30"}]}
    result = api.put("/api/availability", token=token, json_body=first)
    assert result.status == 200, result.body
    assert result.json == {"timezone": "America/Sao_Paulo", "windows": [
        {"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00"},
        {"dayOfWeek": 1, "startTime": "12:00", "endTime": "13:30"},
        {"dayOfWeek": 3, "startTime": "14:00", "endTime": "18:00"}]}
    second = {"windows": [{"dayOfWeek": 5, "startTime": "08:00", "endTime": "10:00"}]}
    assert api.put("/api/availability", token=token, json_body=second).status == 200
    assert api.get("/api/availability", token=token).json["windows"] == second["windows"]
    assert api.put("/api/availability", token=token, json_body={"windows": []}).json["windows"] == []


def test_overlapping_or_inverted_windows_are_rejected_and_nothing_changes(api, professional):
    token, _ = professional
    keep = {"windows": [{"dayOfWeek": 2, "startTime": "09:00", "endTime": "17:00"}]}
    assert api.put("/api/availability", token=token, json_body=keep).status == 200
    overlapping = {"windows": [{"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00"},
                               {"dayOfWeek": 1, "startTime": "11:00", "endTime": "13:00"}]}
    body = assert_problem(api.put("/api/availability", token=token, json_body=overlapping), 422,
                          "overlapping_windows")
    assert body["errors"][0]["field"] == "windows.1"
    inverted = {"windows": [{"dayOfWeek": 1, "startTime": "12:00", "endTime": "09:00"}]}
    assert_problem(api.put("/api/availability", token=token, json_body=inverted), 422, "validation_error")
    bad_format = {"windows": [{"dayOfWeek": 7, "startTime": "9h", "endTime": "25:00"}]}
    body = assert_problem(api.put("/api/availability", token=token, json_body=bad_format), 422, "validation_error")
    assert {e["field"] for e in body["errors"]} == {"windows.0.dayOfWeek", "windows.0.startTime", "windows.0.endTime"}
    assert api.get("/api/availability", token=token).json["windows"] == keep["windows"]


def test_database_rejects_overlapping_windows_itself(professional):
    _, body = professional
    db.run("INSERT INTO availability (professional_id, day_of_week, start_time, end_time) "
           "VALUES (:p, 1, '09:00', '12:00')", p=body["id"])
    try:
        db.run("INSERT INTO availability (professional_id, day_of_week, start_time, end_time) "
               "VALUES (:p, 1, '11:00', '13:00')", p=body["id"])
    except db.DatabaseError as error:
        assert db.sqlstate(error) == ("23P01", "availability_no_overlap")
    else:
        raise AssertionError("overlapping availability was accepted")


def test_availability_needs_auth_and_onboarding(api, token_for):
    assert_problem(api.get("/api/availability"), 401, "missing_token")
    assert_problem(api.put("/api/availability", token=token_for(), json_body={"windows": []}), 404,
                   "onboarding_required")
