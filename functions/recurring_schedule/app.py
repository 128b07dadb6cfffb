"""/api/recurring-schedules/{id} — change a series, future occurrences follow (PATCH); stop it (DELETE)."""

from odys import recurring
from odys.http import authenticated, create_app, json_response, lambda_handler_for, no_content, parse_body, path_uuid

app = create_app()


@app.patch("/api/recurring-schedules/<schedule_id>", middlewares=authenticated())
def update_schedule(schedule_id: str):
    schedule_id = path_uuid(schedule_id, "recurring schedule")
    return json_response(200, recurring.update(app.context["user_id"], schedule_id,
                                               parse_body(app, recurring.ScheduleUpdate)))


@app.delete("/api/recurring-schedules/<schedule_id>", middlewares=authenticated())
def stop_schedule(schedule_id: str):
    recurring.stop(app.context["user_id"], path_uuid(schedule_id, "recurring schedule"))
    return no_content()


lambda_handler = lambda_handler_for(app)
