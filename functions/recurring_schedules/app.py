"""/api/recurring-schedules — list series (GET), create one and materialise its occurrences (POST, pro plan)."""

from odys import recurring
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, parse_query

app = create_app()


@app.get("/api/recurring-schedules", middlewares=authenticated())
@doc(auth="professional", query=recurring.ScheduleQuery, response="RecurringScheduleList")
def list_schedules():
    return json_response(200, recurring.list_all(app.context["user_id"], parse_query(app, recurring.ScheduleQuery)))


@app.post("/api/recurring-schedules", middlewares=authenticated())
@doc(auth="professional", body=recurring.ScheduleCreate, response=(201, "RecurringScheduleResult"),
     location=True, problems={402: ["plan_limit_reached"], 404: ["not_found"]})
def create_schedule():
    created = recurring.create(app.context["user_id"], parse_body(app, recurring.ScheduleCreate))
    return json_response(201, created, headers={"Location": f"/api/recurring-schedules/{created['id']}"})


lambda_handler = lambda_handler_for(app)
