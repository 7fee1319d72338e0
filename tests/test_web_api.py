"""The web API through Flask's test client against a real daemon (``sim_daemon``: real kit,
real SQLite, real control socket, virtual time). No stubs: every answer comes from the
daemon through the socket, and "nothing changed" is checked by asking it again.
"""

from __future__ import annotations

import json
import re

import pytest

from firmware.pairing import hash_token
from firmware.sim_hw import FAULTS as SIM_HW_FAULTS
from firmware.states import Fault, State
from web import create_app
from web.auth import csrf_for, public
from web.headers import CSP
from web.openapi import document, openapi_path

# -- fixtures and helpers ---------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf(client) -> dict[str, str]:
    return {"X-CSRF-Token": client.get_cookie("napekit_csrf").value}


def set_cookies(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def daemon_settings(sim_daemon) -> dict:
    return sim_daemon.daemon.handle("settings", {}, None)


def assert_error(response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.is_json
    body = response.json
    assert set(body) == {"error", "field"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert body["field"] == field, body


PROTECTED = [
    ("GET", "/api/status"), ("GET", "/api/settings"), ("PUT", "/api/settings"),
    ("POST", "/api/session/start"), ("POST", "/api/session/next"),
    ("POST", "/api/session/stop"), ("GET", "/api/sessions"), ("GET", "/api/sessions/1"),
    ("GET", "/api/routine"), ("GET", "/api/csrf"), ("GET", "/api/phones"),
    ("DELETE", "/api/phones/1"), ("GET", "/openapi.json"), ("GET", "/api/events"),
    ("GET", "/api/sessions.csv"), ("GET", "/api/sessions/1/samples.csv"),
    ("POST", "/api/session/pause"), ("POST", "/api/session/resume"),
]


# -- health, headers, Flask's own errors ------------------------------------------------------


def test_healthz_answers_unpaired_with_security_headers(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json == {"ok": True, "daemon": True}
    assert r.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in CSP
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method, path", PROTECTED)
def test_unpaired_gets_401(client, sim_daemon, method, path):
    before = daemon_settings(sim_daemon)
    r = client.open(path, method=method, json={"target_c": 41.5} if method == "PUT" else None)
    assert_error(r, 401)
    assert r.json["error"] == "not paired"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert daemon_settings(sim_daemon) == before
    assert sim_daemon.kit.session.state == "idle"


def test_page_shells_answer_unpaired_with_the_same_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert r.headers["Content-Security-Policy"] == CSP
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/no-such-page").status_code == 404


def test_flask_404_and_405_are_json_on_api_paths(client, token):
    assert_error(client.get("/api/nothing-here"), 404)
    assert_error(client.get("/api/nothing-here", headers=bearer(token)), 404)
    r = client.post("/api/status", headers=bearer(token))
    assert_error(r, 405)
    assert "GET" in r.headers["Allow"]
    r = client.get("/api/session/start", headers=bearer(token))
    assert_error(r, 405)
    assert r.headers["Content-Security-Policy"] == CSP


def test_flask_500_is_json(sim_daemon):
    app = create_app({"SOCKET": sim_daemon.socket_path})  # not TESTING: errors are answered

    @app.get("/api/test-boom")
    @public
    def boom():
        raise RuntimeError("boom")

    r = app.test_client().get("/api/test-boom")
    assert_error(r, 500)
    assert r.json["error"] == "internal error"
    assert r.headers["Content-Security-Policy"] == CSP


# -- pairing ----------------------------------------------------------------------------------


def test_pairing_pending_then_approved_by_long_press(client, sim_daemon):
    r = client.post("/api/pairing")
    assert r.status_code == 200
    req = r.json
    assert re.fullmatch(r"\d{4}", req["code"]) and req["expires_in_s"] == 60
    assert sim_daemon.kit.buzzer.current == "pairing"  # the kit beeps

    r = client.get(f"/api/pairing/{req['id']}")
    assert r.json["status"] == "pending" and 0 < r.json["expires_in_s"] <= 60
    assert "token" not in r.json and not r.headers.getlist("Set-Cookie")
    assert_error(client.get("/api/status"), 401)

    sim_daemon.hold_button()
    r = client.get(f"/api/pairing/{req['id']}")
    body = r.json
    assert body["status"] == "approved"
    token = body["token"]
    assert len(token) >= 43  # 32 random bytes, base64: 256 bits
    assert body["csrf"] == csrf_for(token)
    cookies = set_cookies(r)
    auth_cookie = cookies["napekit_token"]
    assert f"napekit_token={token};" in auth_cookie
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="):
        assert attribute in auth_cookie
    assert "Secure" not in auth_cookie  # plain http here
    csrf_cookie = cookies["napekit_csrf"]
    assert "SameSite=Strict" in csrf_cookie and "HttpOnly" not in csrf_cookie
    assert f"napekit_csrf={csrf_for(token)};" in csrf_cookie
    # The daemon keeps only the hash.
    assert sim_daemon.daemon.store.phone_by_token_hash(hash_token(token)) is not None

    # The token is handed out once.
    r = client.get(f"/api/pairing/{req['id']}")
    assert r.json["status"] == "approved" and "token" not in r.json
    assert not r.headers.getlist("Set-Cookie")

    # The cookie now works.
    r = client.get("/api/status")
    assert r.status_code == 200 and r.json["sim"] is True


def test_pairing_cookie_is_secure_over_https(client, sim_daemon):
    r = client.post("/api/pairing", base_url="https://localhost")
    sim_daemon.hold_button()
    r = client.get(f"/api/pairing/{r.json['id']}", base_url="https://localhost")
    cookies = set_cookies(r)
    assert "Secure" in cookies["napekit_token"] and "Secure" in cookies["napekit_csrf"]


def test_pairing_expires_after_60_s(client, sim_daemon):
    pid = client.post("/api/pairing").json["id"]
    sim_daemon.advance(61)
    assert client.get(f"/api/pairing/{pid}").json == {"status": "expired"}
    sim_daemon.hold_button()  # too late: approves nothing
    assert client.get(f"/api/pairing/{pid}").json == {"status": "expired"}
    assert sim_daemon.daemon.handle("phones", {}, None)["phones"] == []
    assert_error(client.get("/api/status"), 401)


def test_pairing_ids_and_bodies_are_checked(client):
    assert client.get("/api/pairing/no-such-request").json == {"status": "expired"}
    assert_error(client.get("/api/pairing/" + "x" * 65), 404, "id")
    assert_error(client.get("/api/pairing/bad$id"), 404, "id")
    assert_error(client.post("/api/pairing", json={"name": "two\nlines"}), 400, "name")
    assert_error(client.post("/api/pairing", json={"nickname": "mine"}), 400, "nickname")
    assert_error(client.post("/api/pairing", json=[]), 400)


def test_pairing_by_one_time_link(app, sim_daemon):
    secret = sim_daemon.daemon.handle("pair_link", {}, None)["secret"]
    phone = app.test_client()
    assert_error(phone.post("/api/pairing/link", json={"secret": 5}), 400, "secret")
    assert_error(phone.post("/api/pairing/link", json={"secret": secret, "x": 1}), 400, "x")
    assert_error(phone.post("/api/pairing/link"), 400)
    r = phone.post("/api/pairing/link", json={"secret": secret})
    assert r.status_code == 200 and r.json["status"] == "approved"
    cookies = set_cookies(r)
    assert "HttpOnly" in cookies["napekit_token"] and "SameSite=Strict" in cookies["napekit_token"]
    assert r.json["csrf"] == csrf_for(r.json["token"])
    assert phone.get("/api/status").status_code == 200
    # once only
    assert_error(app.test_client().post("/api/pairing/link", json={"secret": secret}),
                 403, "secret")


def test_pairing_requests_are_rate_limited(client, sim_daemon):
    for _ in range(5):
        assert client.post("/api/pairing").status_code == 200
    r = client.post("/api/pairing")
    assert_error(r, 429)
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # another address has its own budget
    other = {"REMOTE_ADDR": "192.168.1.50"}
    assert client.post("/api/pairing", environ_base=other).status_code == 200
    # the link endpoint has its own limit too
    for _ in range(5):
        assert_error(client.post("/api/pairing/link", json={"secret": "nope"}), 403, "secret")
    assert_error(client.post("/api/pairing/link", json={"secret": "nope"}), 429)
    sim_daemon.advance(61)
    assert client.post("/api/pairing").status_code == 200


def test_cross_site_post_is_refused(client, sim_daemon):
    r = client.post("/api/pairing", headers={"Origin": "http://evil.example"})
    assert_error(r, 403, "Origin")
    assert_error(client.post("/api/pairing", headers={"Origin": "null"}), 403, "Origin")
    r = client.post("/api/sim/button", json={"action": "hold"},
                    headers={"Origin": "http://evil.example"})
    assert_error(r, 403, "Origin")
    assert not sim_daemon.sim.faults and sim_daemon.daemon.sim_panel.next_action_s() is None
    assert client.post("/api/pairing", headers={"Origin": "http://localhost"}).status_code == 200


# -- auth: bearer, cookie, revocation, CSRF ---------------------------------------------------


def test_bearer_token_works_without_cookie_or_csrf(app, token, sim_daemon):
    other = app.test_client()  # no cookies at all
    r = other.get("/api/status", headers=bearer(token))
    assert r.status_code == 200 and r.json["state"] == "idle"
    r = other.put("/api/settings", json={"target_c": 41.5}, headers=bearer(token))
    assert r.status_code == 200 and r.json["target_c"] == 41.5
    assert daemon_settings(sim_daemon)["target_c"] == 41.5


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Bearer   ", "token abc"])
def test_malformed_authorization_is_401(client, header):
    assert_error(client.get("/api/status", headers={"Authorization": header}), 401,
                 "Authorization")


def test_unknown_tokens_are_401(app, token):
    other = app.test_client()
    assert_error(other.get("/api/status", headers=bearer("x" * 43)), 401)
    assert_error(other.get("/api/status", headers=bearer(token + "x")), 401)
    assert_error(other.get("/api/status", headers=bearer("short")), 401)
    # A stale cookie is answered 401 and removed.
    other.set_cookie("napekit_token", "y" * 43)
    r = other.get("/api/status")
    assert_error(r, 401)
    assert "napekit_token=;" in set_cookies(r)["napekit_token"]


def test_revoked_phone_gets_401_at_once(app, paired_client, sim_daemon):
    phone_b = app.test_client()
    token_b = sim_daemon.pair(phone_b)
    assert phone_b.get("/api/status").status_code == 200  # cached as good now
    phones = paired_client.get("/api/phones").json["phones"]
    assert len(phones) == 2
    mine = [p for p in phones if p["current"]]
    assert len(mine) == 1
    id_b = next(p["id"] for p in phones if not p["current"])

    r = paired_client.delete(f"/api/phones/{id_b}", headers=csrf(paired_client))
    assert r.status_code == 200 and [p["id"] for p in r.json["phones"]] == [mine[0]["id"]]
    assert_error(phone_b.get("/api/status"), 401)
    assert_error(app.test_client().get("/api/status", headers=bearer(token_b)), 401)
    assert_error(paired_client.delete(f"/api/phones/{id_b}", headers=csrf(paired_client)),
                 404, "id")
    assert_error(paired_client.delete("/api/phones/99999999999999999999999",
                                      headers=csrf(paired_client)), 404, "id")
    assert paired_client.get("/api/status").status_code == 200


def test_revocation_elsewhere_takes_effect_within_the_cache_time(paired_client, sim_daemon):
    assert paired_client.get("/api/status").status_code == 200
    phone_id = sim_daemon.daemon.handle("phones", {}, None)["phones"][0]["id"]
    sim_daemon.daemon.handle("revoke_phone", {"id": phone_id}, None)  # e.g. another web
    sim_daemon.advance(2.1)  # the positive cache lasts 2 s at most
    assert_error(paired_client.get("/api/status"), 401)


def test_revoking_this_phone_clears_its_cookies(paired_client):
    me = paired_client.get("/api/phones").json["phones"][0]
    r = paired_client.delete(f"/api/phones/{me['id']}", headers=csrf(paired_client))
    assert r.status_code == 200 and r.json["phones"] == []
    assert "napekit_token=;" in set_cookies(r)["napekit_token"]
    assert_error(paired_client.get("/api/status"), 401)


def test_csrf_is_required_for_cookie_writes(client, token, sim_daemon):
    before = daemon_settings(sim_daemon)
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf_for(token + "x")}):
        assert_error(client.put("/api/settings", json={"target_c": 41.5}, headers=headers),
                     403, "X-CSRF-Token")
        assert_error(client.post("/api/session/start", headers=headers), 403, "X-CSRF-Token")
        me = client.get("/api/phones").json["phones"][0]["id"]
        assert_error(client.delete(f"/api/phones/{me}", headers=headers), 403, "X-CSRF-Token")
    assert daemon_settings(sim_daemon) == before
    assert sim_daemon.kit.session.state == "idle"
    assert len(client.get("/api/phones").json["phones"]) == 1

    # The value from GET /api/csrf equals the cookie's, and it works.
    r = client.get("/api/csrf")
    assert r.json == {"csrf": client.get_cookie("napekit_csrf").value} == {"csrf": csrf_for(token)}
    r = client.put("/api/settings", json={"target_c": 41.5}, headers=csrf(client))
    assert r.status_code == 200 and r.json["target_c"] == 41.5


# -- Host allow-list --------------------------------------------------------------------------


FOREIGN_HOSTS = ["evil.example", "evil.example:8080", "localhost.evil.example",
                 "napekit.local.evil.example", "10.11.12.13", "[2001:db8::7]", "",
                 "local host", "localhost:port", "user@localhost"]


def test_foreign_host_is_403(client, token, sim_daemon):
    before = daemon_settings(sim_daemon)
    pairings = sim_daemon.kit.status()["pairing_requests"]
    for host in FOREIGN_HOSTS:
        for method, path, body in (("GET", "/healthz", None), ("GET", "/api/status", None),
                                   ("PUT", "/api/settings", {"target_c": 41.5}),
                                   ("POST", "/api/pairing", None), ("GET", "/", None)):
            r = client.open(path, method=method, json=body,
                            headers={"Host": host, **bearer(token)})
            assert r.status_code == 403, (host, path)
            assert_error(r, 403, "Host")
            assert r.json["error"] == "host not allowed"
    assert daemon_settings(sim_daemon) == before
    assert sim_daemon.kit.status()["pairing_requests"] == pairings


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8080", "127.0.0.1", "127.3.4.5:80",
                                  "[::1]:8080", "napekit.local", "napekit.local.:8080"])
def test_own_hosts_are_allowed(client, token, host):
    r = client.get("/api/status", headers={"Host": host, **bearer(token)})
    assert r.status_code == 200, r.json


def test_machine_names_and_extra_hosts_are_allowed(sim_daemon):
    import socket

    app = create_app({"SOCKET": sim_daemon.socket_path, "ALLOWED_HOSTS": ["kit.example.org"]})
    c = app.test_client()
    short = socket.gethostname().split(".")[0].lower()
    for host in (short, f"{short}.local:8080", "kit.example.org", "KIT.example.org:443"):
        assert c.get("/healthz", headers={"Host": host}).status_code == 200, host
    assert c.get("/healthz", headers={"Host": "other.example.org"}).status_code == 403


# -- bodies -----------------------------------------------------------------------------------

BAD_BODIES = [
    # (raw body, content type, field named)
    (b"[1, 2]", "application/json", None),
    (b'"text"', "application/json", None),
    (b"41.5", "application/json", None),
    (b"null", "application/json", None),
    (b'{"target_c": NaN}', "application/json", "target_c"),
    (b'{"target_c": Infinity}', "application/json", "target_c"),
    (b'{"target_c": -Infinity}', "application/json", "target_c"),
    (b'{"target_c": 1e999}', "application/json", "target_c"),
    (b'{"stage_s": {"effleurage": NaN}}', "application/json", "stage_s.effleurage"),
    (b'{"target_c": "41.5"}', "application/json", "target_c"),
    (b'{"target_c": true}', "application/json", "target_c"),
    (b'{"target_c": 41.3}', "application/json", "target_c"),
    (b'{"target_c": 50}', "application/json", "target_c"),
    (b'{"hold_min": 5.5}', "application/json", "hold_min"),
    (b'{"auto_advance": 1}', "application/json", "auto_advance"),
    (b'{"stage_s": [30]}', "application/json", "stage_s"),
    (b'{"colour": "red"}', "application/json", "colour"),
    (b'{"cmd": "start"}', "application/json", "cmd"),
    (b'{"stage_s": {"nope": 30}}', "application/json", "stage_s.nope"),
    (b'{"target_c": 41.5, "hold_min": 99}', "application/json", "hold_min"),
    (b'{"target_c": 41.5, "target_c": 42}', "application/json", "target_c"),
    (b'{"target_c": 41.5', "application/json", None),
    (b"\xff\xfe{}", "application/json", None),
    (b"[" * 5000 + b"]" * 5000, "application/json", None),
    (b"1" * 5000, "application/json", None),
    (b"", "application/json", None),
    (b'{"target_c": 41.5}', "text/plain", "Content-Type"),
    (b'{"target_c": 41.5}', "application/x-www-form-urlencoded", "Content-Type"),
    (b'{"target_c": 41.5}', "application/json; charset=latin-1", "Content-Type"),
]


def test_bad_settings_bodies_are_400_and_change_nothing(paired_client, sim_daemon):
    before = daemon_settings(sim_daemon)
    for raw, content_type, field in BAD_BODIES:
        r = paired_client.put("/api/settings", data=raw, content_type=content_type,
                       headers=csrf(paired_client))
        assert r.status_code == 400, (raw[:60], r.json)
        assert r.json["field"] == field, (raw[:60], r.json)
        assert_error(r, 400, field)
        assert daemon_settings(sim_daemon) == before, raw[:60]
    assert paired_client.get("/api/settings").json == before


def test_body_over_16_kb_is_413(paired_client, sim_daemon):
    before = daemon_settings(sim_daemon)
    body = json.dumps({"target_c": 41.5, "pad": "x" * 17_000})
    r = paired_client.put("/api/settings", data=body, content_type="application/json",
                   headers=csrf(paired_client))
    assert_error(r, 413)
    r = paired_client.post("/api/sim/button", data=body, content_type="application/json")
    assert_error(r, 413)
    assert daemon_settings(sim_daemon) == before
    # 16 KB of whitespace-padded JSON is still fine
    ok = b'{"target_c": 41.5}' + b" " * (16 * 1024 - 40)
    r = paired_client.put("/api/settings", data=ok, content_type="application/json",
                   headers=csrf(paired_client))
    assert r.status_code == 200


# -- settings, sessions, routine --------------------------------------------------------------


def test_settings_get_and_partial_put(paired_client, sim_daemon):
    r = paired_client.get("/api/settings")
    assert r.status_code == 200
    before = r.json
    assert set(before) == {"target_c", "hold_min", "auto_advance", "stroke_ticks", "stage_s"}
    r = paired_client.put("/api/settings", json={"target_c": 41.5, "stage_s": {"effleurage": 45}},
                   headers=csrf(paired_client))
    assert r.status_code == 200
    assert r.json["target_c"] == 41.5 and r.json["stage_s"]["effleurage"] == 45
    assert r.json["hold_min"] == before["hold_min"]
    assert paired_client.get("/api/status").json["target_c"] == 41.5
    # An empty update changes nothing and answers the settings.
    assert paired_client.put("/api/settings", json={}, headers=csrf(paired_client)).json == r.json
    assert daemon_settings(sim_daemon) == r.json


def test_session_start_next_stop_and_history(paired_client, sim_daemon):
    assert_error(paired_client.post("/api/session/next", headers=csrf(paired_client)), 409)
    assert_error(paired_client.post("/api/session/start", json={"now": True},
                                    headers=csrf(paired_client)), 400, "now")
    assert sim_daemon.kit.session.state == "idle"

    r = paired_client.post("/api/session/start", headers=csrf(paired_client))
    assert r.status_code == 200 and r.json["state"] == "preheat"
    assert_error(paired_client.post("/api/session/start", headers=csrf(paired_client)), 409)
    sim_daemon.advance(5)
    status = paired_client.get("/api/status").json
    assert status["relay"] is True and status["temp_c"] is not None
    for key in ("state", "stage", "stage_index", "stages", "remaining_s", "temp_c",
                "target_c", "relay", "dose_cem43", "fault", "sim"):
        assert key in status
    r = paired_client.post("/api/session/next", json={}, headers=csrf(paired_client))
    assert r.status_code == 200 and r.json["state"] == "ready" and r.json["relay"] is False
    r = paired_client.post("/api/session/stop", headers=csrf(paired_client))
    assert r.status_code == 200 and r.json["state"] == "idle" and r.json["relay"] is False

    sessions = paired_client.get("/api/sessions").json["sessions"]
    assert len(sessions) == 1 and sessions[0]["outcome"] == "stopped"
    one = paired_client.get(f"/api/sessions/{sessions[0]['id']}").json
    assert one["id"] == sessions[0]["id"] and len(one["samples"]) >= 4
    assert {"t_s", "temp_c", "relay"} <= set(one["samples"][0])
    assert_error(paired_client.get("/api/sessions/9999"), 404, "id")
    assert_error(paired_client.get("/api/sessions/99999999999999999999999"), 404, "id")
    assert_error(paired_client.get("/api/sessions/-1"), 404)


def test_start_while_a_fault_is_latched_is_409(paired_client, sim_daemon):
    r = paired_client.post("/api/sim/fault", json={"fault": "thermistor_open"})
    assert r.status_code == 200 and r.json == {"faults": ["thermistor_open"]}
    sim_daemon.advance(1)
    status = paired_client.get("/api/status").json
    assert status["state"] == "fault" and status["fault"]["code"] == "sensor_open"
    r = paired_client.post("/api/session/start", headers=csrf(paired_client))
    assert_error(r, 409)
    assert "fault" in r.json["error"]
    assert sim_daemon.kit.session.state == "fault" and not sim_daemon.kit.relay.is_on
    assert paired_client.get("/api/sessions").json["sessions"] == []


def test_routine_for_the_guide(paired_client):
    r = paired_client.get("/api/routine")
    assert r.status_code == 200
    ids = [s["id"] for s in r.json["stages"]]
    assert ids[0] == "effleurage" and "suboccipital" in ids
    assert r.json["safety"]


# -- the simulated kit ------------------------------------------------------------------------


def test_sim_endpoints_need_no_pairing(client, sim_daemon):
    r = client.get("/api/sim/state")
    assert r.status_code == 200
    assert {"true_c", "contacts", "buzzer", "faults", "button"} <= set(r.json)
    assert client.post("/api/sim/button", json={"action": "press"}).json == {"ok": True}
    assert_error(client.post("/api/sim/button", json={"action": "hold", "duration_s": 1}),
                 400, "duration_s")
    assert_error(client.post("/api/sim/button", json={"action": "kick"}), 400, "action")
    assert_error(client.post("/api/sim/button"), 400)
    assert_error(client.post("/api/sim/button", data="press", content_type="text/plain"),
                 400, "Content-Type")
    assert_error(client.post("/api/sim/fault", json={"fault": "gremlins"}), 400, "fault")
    r = client.post("/api/sim/fault", json={"fault": "adc_spike", "duration_s": 5})
    assert r.json == {"faults": ["adc_spike"]}
    assert client.get("/api/sim/state").json["faults"] == ["adc_spike"]
    assert client.delete("/api/sim/fault").json == {"faults": []}
    assert client.get("/api/sim/state").json["faults"] == []


def test_sim_button_hold_through_the_api_pairs(client, sim_daemon):
    pid = client.post("/api/pairing").json["id"]
    assert client.post("/api/sim/button", json={"action": "hold", "duration_s": 3}).json == \
        {"ok": True}
    sim_daemon.advance(3.5)
    assert client.get(f"/api/pairing/{pid}").json["status"] == "approved"


def test_sim_endpoints_404_when_the_daemon_is_not_simulating(paired_client, sim_daemon):
    panel, sim_daemon.daemon.sim_panel = sim_daemon.daemon.sim_panel, None  # real GPIO
    try:
        for method, path, body in (("POST", "/api/sim/button", {"action": "press"}),
                                   ("POST", "/api/sim/fault", {"fault": "adc_spike"}),
                                   ("DELETE", "/api/sim/fault", None),
                                   ("GET", "/api/sim/state", None)):
            r = paired_client.open(path, method=method, json=body)
            assert_error(r, 404)
            assert r.json["error"] == "not in simulation"
        assert paired_client.get("/api/status").status_code == 200
    finally:
        sim_daemon.daemon.sim_panel = panel


# -- the daemon down --------------------------------------------------------------------------


def test_daemon_down_is_503(short_tmp):
    app = create_app({"SOCKET": short_tmp / "nobody.sock", "TESTING": True})
    c = app.test_client()
    assert c.get("/healthz").json == {"ok": True, "daemon": False}
    for method, path in (("GET", "/api/status"), ("PUT", "/api/settings"),
                         ("POST", "/api/session/stop")):
        r = c.open(path, method=method, json={}, headers=bearer("z" * 43))
        assert_error(r, 503)
        assert r.json["error"] == "the kit is not answering"
    assert_error(c.post("/api/pairing"), 503)
    assert_error(c.get("/api/sim/state"), 503)
    assert_error(c.get("/api/status"), 401)  # no credentials at all: nothing to ask


def test_daemon_stopping_midway_is_503(paired_client, sim_daemon):
    assert paired_client.get("/api/status").status_code == 200
    sim_daemon.daemon.server.close()
    sim_daemon.advance(2.1)  # past the auth cache
    assert_error(paired_client.get("/api/status"), 503)
    assert paired_client.get("/healthz").json["daemon"] is False


# -- OpenAPI ----------------------------------------------------------------------------------


def _resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _walk_refs(node, found: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(value)
            else:
                _walk_refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _walk_refs(item, found)


def test_openapi_document_is_valid_and_complete(app, paired_client):
    r = paired_client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    schemes = set(doc["components"]["securitySchemes"])
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        for param in re.findall(r"{(\w+)}", path):
            for op in item.values():
                assert any(p["name"] == param and p["in"] == "path" and p["required"]
                           for p in op.get("parameters", [])), (path, param)
        for method, op in item.items():
            assert method in methods, (path, method)
            assert op["responses"], (path, method)
            for code in op["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", code), (path, code)
            for requirement in op.get("security", []):
                assert set(requirement) <= schemes
    refs: list[str] = []
    _walk_refs(doc, refs)
    assert refs
    for ref in refs:
        _resolve(doc, ref)

    # Every route the app has is in it; every API route is described by hand.
    described = document()["paths"]
    for rule in app.url_map.iter_rules():
        path = openapi_path(rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"].get(path, {}), (path, method)
            if path.startswith("/api/") or path in ("/healthz", "/openapi.json"):
                assert method.lower() in described.get(path, {}), (path, method)
    # ... and nothing is described that the app does not have.
    app_paths = {openapi_path(rule.rule) for rule in app.url_map.iter_rules()}
    assert set(described) <= app_paths
    # Error answers are described for the API.
    assert "401" in doc["paths"]["/api/status"]["get"]["responses"]
    assert "409" in doc["paths"]["/api/session/start"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/pairing"]["post"]["responses"]


def test_openapi_enums_are_the_firmware_vocabularies():
    """States, fault codes and simulated faults in the document are the firmware's own
    lists (nothing retyped that could drift), and they carry DESIGN's spellings."""
    schemas = document()["components"]["schemas"]
    states = schemas["Status"]["properties"]["state"]["enum"]
    codes = schemas["Fault"]["properties"]["code"]["enum"]
    sim_faults = [f for branch in schemas["SimFault"]["oneOf"]
                  for f in branch["properties"]["fault"]["enum"]]
    assert states == [state.value for state in State]
    assert codes == [fault.value for fault in Fault]
    assert sorted(sim_faults) == sorted(SIM_HW_FAULTS)
    assert {"idle", "preheat", "warmup", "ready", "massage", "done", "fault"} == set(states)
    assert {"overtemp", "sensor_open", "sensor_short", "sensor_stale", "no_heat", "runaway",
            "overrun", "internal"} <= set(codes)
    assert {"sensor", "coupling"} <= set(schemas["SimFault"]["oneOf"][2]["properties"])


# -- load -------------------------------------------------------------------------------------


def test_concurrent_requests_are_all_answered(app, token):
    """Many requests at once: the web bounds its commands in flight, so the daemon's
    socket (listen backlog 5) never turns one away."""
    import threading

    answers: list[int] = []
    lock = threading.Lock()

    def worker():
        c = app.test_client()
        for _ in range(10):
            code = c.get("/api/status", headers=bearer(token)).status_code
            with lock:
                answers.append(code)

    threads = [threading.Thread(target=worker) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == [200] * 240
