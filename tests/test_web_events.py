"""Live status (``GET /api/events``), CSV export, compression and the pause/resume routes,
through Flask's test client against the real daemon (``sim_daemon``, virtual time).

The event stream is read chunk by chunk as a browser would; each stream is bounded in
time by its config (``EVENTS_LIFETIME_S``), so a broken stream ends the test instead of
hanging it.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator

import pytest

from firmware.client import DaemonUnavailable
from tests.test_web_api import assert_error, bearer, csrf
from web import create_app, events
from web.events import StatusHub, significant
from web.export import SAMPLE_COLUMNS, SESSION_COLUMNS, to_csv


@pytest.fixture
def app(sim_daemon):
    """conftest's app with a fast event stream (poll, heartbeat and lifetime shortened)."""
    return create_app({"SOCKET": sim_daemon.socket_path, "TESTING": True,
                       "CLOCK": sim_daemon.clock, "EVENTS_POLL_S": 0.02,
                       "EVENTS_HEARTBEAT_S": 0.1, "EVENTS_LIFETIME_S": 5.0})


def events_of(response) -> Iterator[tuple[str, dict]]:
    """The events (name, data) of a streamed response, as they come."""
    buffer = ""
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines()
                          if ": " in line and not line.startswith(":"))
            if "event" in fields:
                yield fields["event"], json.loads(fields["data"])


def read_events(response, count: int) -> list[tuple[str, dict]]:
    """The next ``count`` events of a streamed response (fewer if it ends)."""
    return list(itertools.islice(events_of(response), count))


def open_stream(client, token):
    return client.get("/api/events", headers=bearer(token), buffered=False)


# -- the stream ------------------------------------------------------------------------------


def test_events_stream_the_status_with_stages_first_only(client, token, sim_daemon):
    r = open_stream(client, token)
    try:
        assert r.status_code == 200
        assert r.mimetype == "text/event-stream"
        assert r.headers["Cache-Control"] == "no-store"
        (name, first), = read_events(r, 1)
        assert name == "status"
        assert first["state"] == "idle"
        assert [s["id"] for s in first["stages"]][0] == "effleurage"
        assert client.post("/api/session/start", headers=bearer(token)).status_code == 200
        sim_daemon.advance(1)
        name, later = next((n, d) for n, d in events_of(r) if n == "status")
        assert later["state"] == "preheat"
        assert "stages" not in later
    finally:
        r.close()


def test_events_send_a_heartbeat_when_nothing_changes(client, token):
    r = open_stream(client, token)
    try:
        names = [n for n, _ in read_events(r, 3)]
        assert names[0] == "status"
        assert names[1:] == ["heartbeat", "heartbeat"]  # virtual time stands still
    finally:
        r.close()


def test_events_need_pairing(client, sim_daemon):
    assert_error(client.get("/api/events"), 401)
    assert_error(client.get("/api/events", headers=bearer("x" * 43)), 401)


def test_too_many_streams_get_503_with_retry_after(sim_daemon):
    app = create_app({"SOCKET": sim_daemon.socket_path, "TESTING": True,
                      "CLOCK": sim_daemon.clock, "EVENTS_MAX_STREAMS": 1,
                      "EVENTS_LIFETIME_S": 5.0})
    client = app.test_client()
    token = sim_daemon.pair(client)
    first = open_stream(client, token)
    try:
        r = open_stream(client, token)
        assert_error(r, 503)
        assert int(r.headers["Retry-After"]) > 0
        assert client.get("/api/status", headers=bearer(token)).status_code == 200
    finally:
        first.close()
    again = open_stream(client, token)  # the closed stream gave its place back
    try:
        assert again.status_code == 200
    finally:
        again.close()
    assert app.extensions[events.EXTENSION].streams == 0


def test_a_stream_ends_after_its_lifetime(sim_daemon):
    app = create_app({"SOCKET": sim_daemon.socket_path, "TESTING": True,
                      "CLOCK": sim_daemon.clock, "EVENTS_LIFETIME_S": 0.3,
                      "EVENTS_HEARTBEAT_S": 0.1})
    client = app.test_client()
    token = sim_daemon.pair(client)
    r = open_stream(client, token)
    text = b"".join(r.response).decode()  # ends by itself
    r.close()
    assert text.startswith("retry: ")
    assert "event: status" in text
    assert app.extensions[events.EXTENSION].streams == 0


def test_a_revoked_phone_is_told_and_its_stream_ends(client, token, sim_daemon, monkeypatch):
    monkeypatch.setattr(events, "AUTH_RECHECK_S", 0.1)
    r = open_stream(client, token)
    try:
        assert read_events(r, 1)[0][0] == "status"
        phone = sim_daemon.daemon.handle("phones", {}, None)["phones"][0]["id"]
        sim_daemon.daemon.handle("revoke_phone", {"id": phone}, None)
        client.application.extensions["napekit.auth"].clear()
        names = [n for n, _ in read_events(r, 10)]
        assert names[-1] == "unpaired"
    finally:
        r.close()


def test_the_event_stream_is_never_compressed(client, token):
    r = client.get("/api/events", headers={**bearer(token), "Accept-Encoding": "gzip, br"},
                   buffered=False)
    try:
        assert r.status_code == 200
        assert "Content-Encoding" not in r.headers
        assert read_events(r, 1)[0][0] == "status"
    finally:
        r.close()


# -- the shared poller -----------------------------------------------------------------------


def test_hub_publishes_only_changes_the_page_shows():
    statuses = [
        {"state": "idle", "temp_c": 30.0, "remaining_s": None, "stages": [1]},
        {"state": "idle", "temp_c": 30.04, "remaining_s": None, "stages": [1]},   # noise
        {"state": "idle", "temp_c": 30.12, "remaining_s": None, "stages": [1]},   # 0.12 °C
        {"state": "preheat", "temp_c": 30.12, "remaining_s": None, "stages": [1]},
        {"state": "preheat", "temp_c": 30.12, "remaining_s": None, "stages": [1, 2]},
    ]
    feed = iter(statuses)
    hub = StatusHub(lambda: dict(next(feed)))
    seqs = [hub.poll_once().seq for _ in statuses]
    assert seqs == [0, 0, 1, 2, 3]
    snap = hub.wait(-1, 0)
    assert snap.stages == [1, 2] and snap.stages_seq == 2 and "stages" not in snap.status


def test_hub_says_when_the_daemon_is_away_and_back():
    answers = [{"state": "idle"}, DaemonUnavailable("gone"), DaemonUnavailable("gone"),
               {"state": "idle"}]

    def fetch():
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return dict(a)

    hub = StatusHub(fetch)
    first = hub.poll_once()
    away = hub.poll_once()
    assert away.error and away.seq == first.seq + 1
    assert hub.poll_once().seq == away.seq  # still away: nothing new
    back = hub.poll_once()
    assert back.error is None and back.status == {"state": "idle"} and back.seq == away.seq + 1


@pytest.mark.parametrize("before, after, changed", [
    ({"remaining_s": 10.05}, {"remaining_s": 10.01}, False),   # the same whole second
    ({"remaining_s": 10.05}, {"remaining_s": 9.95}, True),
    ({"temp_c": 40.0}, {"temp_c": 40.09}, False),
    ({"temp_c": 40.0}, {"temp_c": 39.9}, True),
    ({"temp_c": 40.0}, {"temp_c": None}, True),                # a lost reading at once
    ({"temp1_c": None}, {"temp1_c": 30.0}, True),
    ({"dose_cem43": 1.01}, {"dose_cem43": 1.04}, False),
    ({"relay": False}, {"relay": True}, True),
    ({"fault": None}, {"fault": {"code": "runaway"}}, True),
    ({"target_c": 40.0}, {"target_c": 40.5}, True),
    ({"state": "idle"}, {"state": "idle", "powered": True}, True),
])
def test_what_counts_as_a_change(before, after, changed):
    assert significant(before, after) is changed


# -- pause / resume routes ---------------------------------------------------------------------


def test_pause_and_resume_pass_the_daemons_answer(client, token, sim_daemon):
    """The daemon decides; until it knows these commands it refuses them (400), and the
    kit is untouched."""
    for name in ("pause", "resume"):
        r = client.post(f"/api/session/{name}", headers=csrf(client))
        if r.status_code != 200:
            assert r.status_code in (400, 409), r.json
            assert set(r.json) == {"error", "field"}
        assert sim_daemon.kit.session.state == "idle"
    assert_error(client.post("/api/session/pause"), 403, "X-CSRF-Token")
    assert_error(client.post("/api/session/resume", data="{", content_type="application/json",
                             headers=csrf(client)), 400)


# -- CSV ----------------------------------------------------------------------------------------


def _one_session(client, token, sim_daemon) -> int:
    client.post("/api/session/start", headers=bearer(token))
    sim_daemon.advance(5)
    client.post("/api/session/stop", headers=bearer(token))
    return client.get("/api/sessions", headers=bearer(token)).json["sessions"][0]["id"]


def test_sessions_csv_lists_what_the_api_lists(client, token, sim_daemon):
    _one_session(client, token, sim_daemon)
    _one_session(client, token, sim_daemon)
    listed = client.get("/api/sessions", headers=bearer(token)).json["sessions"]
    r = client.get("/api/sessions.csv", headers=bearer(token))
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Content-Disposition"] == 'attachment; filename="napekit-sessions.csv"'
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert tuple(rows[0]) == SESSION_COLUMNS
    assert [int(row["id"]) for row in rows] == [s["id"] for s in listed]  # the API's order
    assert rows[0]["outcome"] == "stopped"
    assert float(rows[0]["target_c"]) == listed[0]["target_c"]
    assert rows[0]["started_at_utc"].endswith("Z")


def test_samples_csv_has_every_sample(client, token, sim_daemon):
    sid = _one_session(client, token, sim_daemon)
    detail = client.get(f"/api/sessions/{sid}", headers=bearer(token)).json
    r = client.get(f"/api/sessions/{sid}/samples.csv", headers=bearer(token))
    assert r.status_code == 200
    assert f'filename="napekit-session-{sid}-samples.csv"' in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert tuple(rows[0]) == SAMPLE_COLUMNS
    assert len(rows) == len(detail["samples"]) >= 4
    assert [float(row["t_s"]) for row in rows] == [p["t_s"] for p in detail["samples"]]
    assert rows[0]["elapsed_s"] == "0.0"
    assert {row["relay"] for row in rows} <= {"0", "1"}


def test_csv_needs_pairing_and_a_real_session(client, token, sim_daemon):
    other = client.application.test_client()
    assert_error(other.get("/api/sessions.csv"), 401)
    assert_error(other.get("/api/sessions/1/samples.csv"), 401)
    assert_error(client.get("/api/sessions/9999/samples.csv", headers=bearer(token)), 404, "id")
    assert_error(client.get("/api/sessions/99999999999999999999/samples.csv",
                            headers=bearer(token)), 404, "id")


def test_csv_quotes_text_and_defuses_formulas():
    text = to_csv(("a", "b", "c"), [["say \"hi\", then", "=HYPERLINK(1)", None],
                                    [-1.5, True, "line\nbreak"]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["a", "b", "c"], ['say "hi", then', "'=HYPERLINK(1)", ""],
                    ["-1.5", "1", "line\nbreak"]]
    assert text.endswith("\r\n")


# -- compression ------------------------------------------------------------------------------


def test_pages_static_files_and_json_are_compressed(client, token):
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["Vary"]
    status = client.get("/api/status", headers={**bearer(token), "Accept-Encoding": "br"})
    assert status.headers["Content-Encoding"] == "br"
    import brotli

    assert json.loads(brotli.decompress(status.get_data()))["state"] == "idle"
    plain = client.get("/api/status", headers=bearer(token))
    assert "Content-Encoding" not in plain.headers and plain.json["state"] == "idle"
