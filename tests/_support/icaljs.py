"""Run Mozilla's ical.js (tests/js/parse-ics.mjs) on calendar bytes and return its JSON.

Skips the calling test when node or tests/js/node_modules is missing, except in CI (env CI=true),
where a missing parser must fail the run instead of silently dropping the check.
`scripts/ensure-system-deps` installs the pinned package with `npm ci --prefix tests/js`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent.parent / "js"
SCRIPT = JS_DIR / "parse-ics.mjs"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"ical.js check cannot run in CI: {reason}")
    pytest.skip(reason)


def parse_with_icaljs(ics: bytes) -> dict:
    """What ical.js reads from ``ics``: method, zones and, per VEVENT, uid/summary/description/
    location/sequence/status and start/end as UTC ISO strings computed from the file's VTIMEZONEs."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed (needed to run the ical.js parser)")
    if not (JS_DIR / "node_modules" / "ical.js").is_dir():
        _unavailable("tests/js/node_modules is missing: run `npm ci --prefix tests/js`")
    result = subprocess.run(
        [node, str(SCRIPT), "-"], input=ics, capture_output=True, timeout=60, check=False, cwd=JS_DIR
    )
    if result.returncode != 0:
        raise AssertionError(f"ical.js failed to parse the file:\n{result.stderr.decode(errors='replace')}")
    return json.loads(result.stdout)
