"""`make invoke FN=<function> [EVENT=path.json]`: run a non-HTTP function once against a running `make dev`.

    make dev                                        # writes .odys/dev.json (mode 600) while it runs
    make invoke FN=cron_housekeeping                # EventBridge Scheduler's Input for "now"
    make invoke FN=cron_reminders EVENT=my.json     # the event from a file
    make invoke FN=whatsapp_sender                  # SQS records received from the dev queue

The function runs in this process with the dev server's database, queue, WhatsApp stand-in and secrets (read from
the state file :data:`STATE` that ``devtools.server`` writes on start and removes on stop; ``ODYS_DEV_STATE``
points elsewhere). Its result goes to stdout as JSON, its logs to stderr. Default events, for "now":

- a function with a ``ScheduleV2`` event: its ``Input`` from template.yaml with the scheduler's placeholders
  filled in (``<aws.scheduler.scheduled-time>`` -> ``2026-12-02T11:00:00Z``), or ``{}`` without an Input;
- ``whatsapp_sender``: the SQS event of up to 10 messages received from the dev queue (the successful ones are
  then deleted, as the event source mapping does); nothing received, nothing invoked;
- anything else (``migrate``): ``{}``.

Also here: :class:`DevCrons`, which ``ODYS_DEV_CRONS=1 make dev`` starts to run the daily crons at their
template.yaml times (``cron(M H * * ? *)`` in their ``ScheduleExpressionTimezone``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [p for p in (str(ROOT / "layers" / "shared"), str(ROOT)) if p not in sys.path]

from devtools import lambdas  # noqa: E402

STATE = ROOT / ".odys" / "dev.json"
SENDER = "whatsapp_sender"
# What the dev server configured that a function needs: database, queue, stand-ins, secrets, logging.
STATE_PREFIXES = ("DATABASE_", "WHATSAPP_", "AWS_", "UPSTASH_", "STRIPE_", "SUPABASE_", "BOOKING_", "APP_BASE_URL",
                  "ODYS_STAGE", "POWERTOOLS_")
_DAILY_CRON = re.compile(r"cron\((\d{1,2}) (\d{1,2}) \* \* \? \*\)")


class InvokeError(Exception):
    """Why nothing was invoked: one line for the terminal (exit status 2)."""


def state_path() -> Path:
    return Path(os.environ.get("ODYS_DEV_STATE") or STATE)


# --- the state file (written by devtools.server) ---------------------------------------------------------------

def write_state(port: int, environ: dict[str, str] | None = None, path: Path | None = None) -> Path:
    """Record what `make invoke` needs of this dev server, readable by its owner only (it holds secrets)."""
    environ = dict(os.environ if environ is None else environ)
    path = path or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"pid": os.getpid(), "url": f"http://127.0.0.1:{port}",
             "environment": {k: v for k, v in sorted(environ.items()) if k.startswith(STATE_PREFIXES)}}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=2)
    return path


def remove_state(path: Path | None = None) -> None:
    """Remove the state file if it is still this process's (another `make dev` may have replaced it)."""
    path = path or state_path()
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(path: Path | None = None) -> dict[str, Any]:
    path = path or state_path()
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvokeError(f"no running `make dev` ({path} is missing): start `make dev` in another terminal") from None
    except ValueError:
        raise InvokeError(f"{path} is not valid JSON: restart `make dev`") from None
    if not _alive(int(state.get("pid", 0))):
        raise InvokeError(f"the `make dev` that wrote {path} (pid {state.get('pid')}) is gone: start it again")
    return state


# --- the functions and their events ----------------------------------------------------------------------------

def non_http_functions(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The template's functions without an HttpApi event: name -> their Properties."""
    template = template or lambdas.load_template()
    found = {}
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events = (props.get("Events") or {}).values()
        if not any(e.get("Type") == "HttpApi" for e in events):
            found[lambdas.function_name(props.get("CodeUri", ""))] = props
    return found


def schedule_of(props: dict[str, Any]) -> dict[str, Any] | None:
    """The Properties of a function's ScheduleV2 event, if it has one."""
    return next((e.get("Properties") or {} for e in (props.get("Events") or {}).values()
                 if e.get("Type") == "ScheduleV2"), None)


def iso_z(instant: dt.datetime) -> str:
    """The scheduler's format for ``<aws.scheduler.scheduled-time>``.

    >>> iso_z(dt.datetime(2026, 12, 2, 8, tzinfo=ZoneInfo("America/Sao_Paulo")))
    '2026-12-02T11:00:00Z'
    """
    return instant.astimezone(dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduler_event(schedule: dict[str, Any], scheduled_time: dt.datetime) -> dict[str, Any]:
    """What EventBridge Scheduler delivers to a templated Lambda target: its Input, placeholders filled in.

    >>> scheduler_event({"Input": '{"scheduledTime": "<aws.scheduler.scheduled-time>"}'},
    ...                 dt.datetime(2026, 12, 2, 11, tzinfo=dt.timezone.utc))
    {'scheduledTime': '2026-12-02T11:00:00Z'}
    """
    text = schedule.get("Input")
    if not isinstance(text, str):
        return {}
    for placeholder, value in (("<aws.scheduler.scheduled-time>", iso_z(scheduled_time)),
                               ("<aws.scheduler.execution-id>", str(uuid.uuid4())),
                               ("<aws.scheduler.attempt-number>", "1"),
                               ("<aws.scheduler.schedule-arn>",
                                "arn:aws:scheduler:us-east-1:123456789012:schedule/default/odys-dev")):
        text = text.replace(placeholder, value)
    return json.loads(text)


def default_event(name: str, props: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    schedule = schedule_of(props)
    return scheduler_event(schedule, now) if schedule is not None else {}


def _check(name: str, functions: dict[str, dict[str, Any]]) -> None:
    choices = ", ".join(sorted(functions)) or "none"
    if not name:
        raise InvokeError(f"say which function: make invoke FN=<function> (non-HTTP functions: {choices})")
    if name not in functions:
        if (ROOT / "functions" / name).is_dir():
            raise InvokeError(f"{name} is an HTTP function: call it on the dev server with curl")
        raise InvokeError(f"no function {name} in template.yaml yet (non-HTTP functions: {choices})")
    if not (ROOT / "functions" / name / "app.py").exists():
        raise InvokeError(f"template.yaml declares {name}, but functions/{name}/app.py does not exist yet")


def _send_from_queue(environment: dict[str, str]) -> dict[str, Any]:
    """One event source mapping poll of the dev queue into ``whatsapp_sender`` (in this process)."""
    from devtools.local_sqs import LocalQueue, Poller

    queue = LocalQueue()
    queue.endpoint, queue.url = environment["AWS_ENDPOINT_URL_SQS"], environment["WHATSAPP_QUEUE_URL"]
    queue.arn = queue._arn(queue.url)
    outcome: dict[str, Any] = {"received": 0, "result": None}

    def run(event: dict[str, Any]) -> Any:
        outcome["result"] = lambdas.invoke(SENDER, event)
        return outcome["result"]

    received, deleted = Poller(queue, run, wait_seconds=1).poll_once()
    return {"received": received, "deleted": deleted, "result": outcome["result"]}


def invoke(name: str, event_path: str | None = None, *, now: dt.datetime | None = None,
           state_file: Path | None = None) -> Any:
    """Run ``functions/<name>`` once with the dev server's environment; its result (raises InvokeError)."""
    functions = non_http_functions()
    _check(name, functions)
    state = read_state(state_file)
    os.environ.update(state["environment"])
    from odys.log import logger

    logger._logger.handlers[0].setStream(sys.stderr)  # stdout is the result's
    if event_path:
        try:
            event = json.loads(Path(event_path).read_text())
        except (OSError, ValueError) as error:
            raise InvokeError(f"cannot read the event {event_path}: {error}") from None
    elif name == SENDER:
        return _send_from_queue(state["environment"])
    else:
        event = default_event(name, functions[name], now or dt.datetime.now(dt.timezone.utc))
    print(f"invoking {name} with {json.dumps(event)}", file=sys.stderr, flush=True)
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):  # its metrics (EMF lines) too: stdout is the result's
        return lambdas.invoke(name, event)


# --- ODYS_DEV_CRONS=1 make dev -----------------------------------------------------------------------------------

def daily_times(template: dict[str, Any] | None = None) -> list[tuple[str, int, int, str]]:
    """(function, hour, minute, time zone) of each function scheduled ``cron(M H * * ? *)``, earliest first."""
    times = []
    for name, props in non_http_functions(template).items():
        schedule = schedule_of(props)
        match = _DAILY_CRON.fullmatch(str((schedule or {}).get("ScheduleExpression", "")))
        if match and (ROOT / "functions" / name / "app.py").exists():
            times.append((name, int(match[2]), int(match[1]), schedule.get("ScheduleExpressionTimezone", "UTC")))
    return sorted(times, key=lambda t: (t[1], t[2]))


class DevCrons:
    """A thread that invokes the daily crons at their scheduled local times with the scheduler's event.

        crons = DevCrons(lambda name, timeout, event: workers.invoke(route_for(name, timeout), event)).start()
        crons.stop()
    """

    def __init__(self, run: Callable[[str, float, dict[str, Any]], Any],
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> None:
        self.run, self.clock = run, clock
        template = lambdas.load_template()
        self.functions = non_http_functions(template)
        self.times = daily_times(template)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def next_run(self, after: dt.datetime) -> tuple[dt.datetime, str]:
        """The next (instant, function) strictly after ``after``."""
        candidates = []
        for name, hour, minute, zone in self.times:
            local = after.astimezone(ZoneInfo(zone))
            at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if at <= local:
                at = (local + dt.timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
            candidates.append((at.astimezone(dt.timezone.utc), name))
        return min(candidates)

    def describe(self) -> str:
        return ", ".join(f"{n} {h:02d}:{m:02d} {z}" for n, h, m, z in self.times) or "no daily crons yet"

    def start(self) -> DevCrons:
        if self.times:
            self._thread = threading.Thread(target=self._loop, name="odys-dev-crons", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        at, name = self.next_run(self.clock())
        while not self._stop.wait(min(60.0, max(0.0, (at - self.clock()).total_seconds()))):
            if self.clock() < at:
                continue
            props = self.functions[name]
            try:
                result = self.run(name, float(props.get("Timeout", 30)), scheduler_event(schedule_of(props) or {}, at))
                print(f"dev cron {name}: {json.dumps(result, default=str)}", file=sys.stderr, flush=True)
            except Exception as error:  # noqa: BLE001 - keep the schedule going, as the scheduler does
                print(f"dev cron {name}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            at, name = self.next_run(at)


def main(argv: list[str]) -> int:
    name = argv[0] if argv else ""
    event_path = argv[1] if len(argv) > 1 and argv[1] else None
    try:
        result = invoke(name, event_path)
    except InvokeError as error:
        print(f"make invoke: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
