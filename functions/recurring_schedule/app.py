"""/api/recurring-schedules/{id} — change a series, future occurrences follow (PATCH); stop it (DELETE)."""

from odys import recurring
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, no_content, parse_body, path_uuid

app = create_app()


@app.patch("/api/recurring-schedules/<schedule_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "recurring schedule"}, body=recurring.ScheduleUpdate,
     response="RecurringScheduleResult", problems={409: ["schedule_stopped"], 422: ["null_not_allowed"]})
def update_schedule(schedule_id: str):
    schedule_id = path_uuid(schedule_id, "recurring schedule")
    return json_response(200, recurring.update(app.context["user_id"], schedule_id,
                                               parse_body(app, recurring.ScheduleUpdate)))


@app.delete("/api/recurring-schedules/<schedule_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "recurring schedule"}, response=204)
def stop_schedule(schedule_id: str):
    recurring.stop(app.context["user_id"], path_uuid(schedule_id, "recurring schedule"))
    return no_content()


lambda_handler = lambda_handler_for(app)
