"""Parts that do not know each other, measured with an import walk over webinars/ (tests/_support/imports.py).

The parts are the sub-packages and the pure modules `ical` and `timezones`. The rules: ical and
timezones import no other part; the outbox imports no part that sends mail through it; the catalogue
imports neither the admin, the registrations nor the newsletter; the newsletter does not import the
registrations; no two parts import each other, directly or round a longer cycle; shared
infrastructure imports no part (but the two pure foundation parts); only the wiring (the factory, the
CLI and the models aggregator) imports across everything; and the admin composes what each part's
`queries` expose rather than reading other parts' tables itself.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests._support.imports import Rules, module_imports, modules_of, part_graph, violations

PACKAGE = Path(__file__).resolve().parent.parent / "webinars"

PARTS = ("admin", "catalogue", "content", "newsletter", "outbox", "privacy", "registrations", "ical", "timezones")
SHARED = (
    "addresses",
    "audit",
    "cache",
    "database",
    "errors",
    "extensions",
    "forms",
    "gunicorn_conf",
    "labels",
    "language",
    "logs",
    "markup",
    "ratelimit",
    "security",
    "signals",
    "templating",
    "tokens",
    "urls",
)
RULES = Rules(
    package="webinars",
    parts={name: f"webinars.{name}" for name in PARTS},
    shared={f"webinars.{name}" for name in SHARED},
    wiring={"webinars", "webinars.cli", "webinars.models"},
    foundation={"ical", "timezones"},
    forbidden={
        "catalogue": {"admin", "registrations", "newsletter", "privacy"},
        "newsletter": {"registrations", "admin", "privacy"},
        "registrations": {"admin", "newsletter", "privacy"},
        "content": {"admin", "registrations", "newsletter", "privacy"},
    },
    carriers={"outbox"},
)


def test_the_parts_of_webinars_keep_to_the_import_rules():
    imports = module_imports(PACKAGE)
    assert violations(imports, RULES, modules_of(PACKAGE)) == []


def test_the_admin_composes_other_parts_queries_and_reads_no_other_parts_tables():
    """admin/routes.py imports no other part's models and builds no query: what its screens show comes
    from each part's queries (and operations for what they change)."""
    routes = (PACKAGE / "admin" / "routes.py").read_text(encoding="utf-8")
    assert "from sqlalchemy import" not in routes and "select(" not in routes
    offending = [
        str(imp)
        for imp in module_imports(PACKAGE)
        if imp.importer == "webinars.admin.routes"
        and imp.imported.endswith(".models")
        and RULES.owner(imp.imported) not in ("admin", "shared")
    ]
    assert offending == []


def test_the_outbox_knows_no_part_at_all():
    """Stronger than the rule: the outbox carries mail without importing any part (even those that do
    not send through it), so it can never learn why a message is sent."""
    edges = part_graph(module_imports(PACKAGE), RULES)
    assert sorted(b for (a, b) in edges if a == "outbox") == []


# -- the checker itself, on a small fake package ----------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "shop"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for directory in {p.parent for p in root.rglob("*.py")}:
        (directory / "__init__.py").touch()
    return root


def _rules(**overrides) -> Rules:
    fields = {
        "package": "shop",
        "parts": {name: f"shop.{name}" for name in ("orders", "mail", "catalogue", "clock")},
        "shared": {"shop.db"},
        "wiring": {"shop", "shop.cli"},
        "foundation": {"clock"},
        "forbidden": {"catalogue": {"orders"}},
        "carriers": {"mail"},
    }
    return Rules(**{**fields, **overrides})


def _check(root: Path, rules: Rules | None = None) -> list[str]:
    return violations(module_imports(root), rules or _rules(), modules_of(root))


GOOD = {
    "db.py": "from . import clock\n",
    "clock.py": "import datetime\n",
    "catalogue/models.py": "from ..db import x\nfrom ..clock import now\n",
    "orders/operations.py": "from ..catalogue import models\nfrom ..mail.queue import send\n",
    "mail/queue.py": "from ..db import x\n",
    "cli.py": "from .orders import operations\n",
}


def test_the_checker_passes_a_package_that_keeps_the_rules(tmp_path):
    assert _check(_package(tmp_path, GOOD)) == []


def test_the_checker_finds_an_import_hidden_inside_a_function_that_closes_a_cycle(tmp_path):
    files = {**GOOD, "catalogue/views.py": "def page():\n    from ..orders.operations import place\n"}
    problems = _check(_package(tmp_path, files))
    assert any("must not import orders" in p and "catalogue.views" in p for p in problems), problems
    assert any(p.startswith("cycle catalogue -> orders -> catalogue") for p in problems), problems


def test_the_checker_finds_a_cycle_of_three_parts(tmp_path):
    files = {
        **GOOD,
        "orders/operations.py": "from ..catalogue import models\n",
        "catalogue/feeds.py": "import shop.mail.queue\n",
        "mail/hooks.py": "if False:\n    from ..orders import operations\n",
    }
    rules = _rules(forbidden={}, carriers=set())
    problems = _check(_package(tmp_path, files), rules)
    assert [p.split(":")[0] for p in problems if p.startswith("cycle")] == [
        "cycle catalogue -> mail -> orders -> catalogue"
    ]


def test_the_checker_stops_the_carrier_importing_a_part_that_sends_through_it(tmp_path):
    files = {**GOOD, "mail/render.py": "from ..orders.operations import order_text\n"}
    problems = _check(_package(tmp_path, files))
    assert any("mail imports orders, which sends through it" in p for p in problems), problems


def test_the_checker_stops_a_foundation_part_importing_another_part(tmp_path):
    files = {**GOOD, "clock.py": "from .catalogue.models import Thing\n"}
    problems = _check(_package(tmp_path, files))
    assert any("clock imports no other part" in p for p in problems), problems


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("db.py", "from .orders import operations\n", "shared infrastructure imports no part"),
        ("orders/commands.py", "from .. import cli\n", "only the wiring imports the wiring"),
        ("stray.py", "x = 1\n", "shop.stray belongs to no part"),
    ],
)
def test_the_checker_keeps_shared_modules_and_the_wiring_in_their_place(tmp_path, name, text, said):
    problems = _check(_package(tmp_path, {**GOOD, name: text}))
    assert any(said in p for p in problems), problems
