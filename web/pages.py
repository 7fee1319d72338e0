"""The page shells: Now, Settings, History, Guide and Pair.

Each page is a small HTML shell (Jinja, one base layout) plus plain JavaScript that fetches
the JSON API. The shells hold no private data and render without pairing: when an API call
answers 401 the script shows the pairing screen in place of the page.

Nothing here talks to the daemon or decides anything: the pages only ask the API. Static
files (``web/static``) are named with a content hash in their URL (``?v=...``) so a phone
never mixes an old script with a new page.

The Content-Security-Policy the app sends forbids inline script and inline style, so the
templates carry neither: every script is a file under ``static/`` and styling is classes.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, render_template, request, url_for

from firmware import limits as L
from firmware.states import Fault

STATIC_DIR = Path(__file__).with_name("static")

bp = Blueprint("pages", __name__, template_folder="templates",
               static_folder="static", static_url_path="/static")

# page name -> (path, template, title)
PAGES = {
    "now": ("/", "now.html", "Now"),
    "settings": ("/settings", "settings.html", "Settings"),
    "history": ("/history", "history.html", "History"),
    "guide": ("/guide", "guide.html", "Guide"),
    "pair": ("/pair", "pair.html", "Pair this phone"),
}
NAV = ("now", "history", "guide", "settings")


@lru_cache(maxsize=64)
def _digest(filename: str, mtime_ns: int) -> str:
    return hashlib.sha256((STATIC_DIR / filename).read_bytes()).hexdigest()[:10]


def _version(filename: str) -> str:
    try:
        return _digest(filename, (STATIC_DIR / filename).stat().st_mtime_ns)
    except (OSError, ValueError):
        return "0"


def asset(filename: str) -> str:
    """The URL of a static file, versioned by its content."""
    return url_for("pages.static", filename=filename, v=_version(filename))


# What the page scripts need to know of the kit's rules, from the firmware's own modules
# (never spelt twice): sent as data attributes on <body>.
SENSOR_FAULTS = (Fault.SENSOR_OPEN, Fault.SENSOR_SHORT, Fault.SENSOR_STALE,
                 Fault.SENSOR_DETACHED)
KIT_FACTS = {
    "dose_limit": L.DOSE_LIMIT_CEM43,
    "one_sensor_max_c": getattr(L, "ONE_SENSOR_TARGET_MAX_C", None),
    "long_press_s": L.LONG_PRESS_S,
    "powered_faults": " ".join(f.value for f in Fault if f.pad_powered),
    "sensor_faults": " ".join(f.value for f in SENSOR_FAULTS),
}


@bp.context_processor
def _helpers() -> dict:
    return {"asset": asset, **KIT_FACTS}


@bp.after_request
def _cache(response: Response) -> Response:
    # A versioned static URL never changes its content: phones may keep it. Everything
    # else (the shells, unversioned files) is revalidated each time.
    if (request.endpoint == "pages.static" and response.status_code == 200
            and request.args.get("v") == _version((request.view_args or {}).get("filename", ""))):
        response.cache_control.no_cache = None
        response.cache_control.public = True
        response.cache_control.max_age = 365 * 24 * 3600
        response.cache_control.immutable = True
    return response


def _render(page: str):
    _, template, title = PAGES[page]
    nav = [(name, PAGES[name][0], PAGES[name][2]) for name in NAV]
    return render_template(template, page=page, title=title, nav=nav)


@bp.get("/")
def now():
    return _render("now")


@bp.get("/settings")
def settings():
    return _render("settings")


@bp.get("/history")
def history():
    return _render("history")


@bp.get("/guide")
def guide():
    return _render("guide")


@bp.get("/pair")
def pair():
    # A one-time link is /pair#<secret>: the fragment never reaches the server; the page's
    # script posts it to /api/pairing/link.
    return _render("pair")
