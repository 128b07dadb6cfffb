"""template.yaml is the single source of truth for routes: it lints, and it matches the functions on disk."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from devtools import lambdas

ROOT = Path(__file__).resolve().parent.parent


def test_template_passes_cfn_lint():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    cfn_lint = str(cfn_lint) if cfn_lint.exists() else shutil.which("cfn-lint")
    result = subprocess.run([cfn_lint, "template.yaml"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_folder_is_declared_and_every_declared_function_exists():
    template = lambdas.load_template()
    declared = {lambdas.function_name(r["Properties"]["CodeUri"]) for r in template["Resources"].values()
                if r["Type"] == "AWS::Serverless::Function"}
    on_disk = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    assert declared == on_disk


def test_every_template_route_reaches_a_handler_route():
    """No template route falls through to the function's own 404 (route_not_found)."""
    for route in lambdas.load_routes():
        params = {name: str(uuid.uuid4()) for name in re.findall(r"\{(\w+)\}", route.path)}
        path = route.path
        for name, value in params.items():
            path = path.replace("{" + name + "}", value)
        raw = lambdas.invoke(route.function, lambdas.http_event(route.method, path, route_path=route.path,
                                                                path_parameters=params or None))
        assert "route_not_found" not in (raw.get("body") or ""), f"{route.method} {route.path} -> {raw}"
        assert raw["statusCode"] < 500, f"{route.method} {route.path} -> {raw}"
