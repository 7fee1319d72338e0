"""Security findings of issue 12 on the web API, through Flask's test client against the
real daemon: the Origin check (scheme, host, port; no path), huge numbers and deep
nesting in bodies, and the routes and bodies where the API and its OpenAPI document
disagreed. Every refusal is checked to have changed nothing, by asking the daemon."""

from __future__ import annotations

import pytest

from web.hosts import same_origin
from web.openapi import document

BIG = "9" * 400


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.is_json and set(response.json) == {"error", "field"}
    assert response.json["field"] == field, response.json
    return response.json


def nothing_changed(sim_daemon, settings: dict, pairing_requests: list) -> bool:
    kit = sim_daemon.kit
    return (sim_daemon.daemon.handle("settings", {}, None) == settings
            and kit.status()["pairing_requests"] == pairing_requests
            and not sim_daemon.sim.faults and kit.session.state == "idle"
            and sim_daemon.daemon.sim_panel.next_action_s() is None)


@pytest.fixture
def snapshot(sim_daemon):
    return (sim_daemon.daemon.handle("settings", {}, None),
            sim_daemon.kit.status()["pairing_requests"])


# -- the Origin check -------------------------------------------------------------------------


@pytest.mark.parametrize("origin, scheme, host", [
    ("http://localhost", "http", "localhost"),
    ("http://localhost:80", "http", "localhost"),
    ("http://localhost", "http", "localhost:80"),
    ("HTTP://LocalHost:8080", "http", "localhost:8080"),
    ("http://napekit.local", "http", "napekit.local"),
    ("http://napekit.local.", "http", "napekit.local"),
    ("https://napekit.local", "https", "napekit.local:443"),
    ("http://[::1]:8080", "http", "[::1]:8080"),
    ("http://192.168.1.20:8080", "http", "192.168.1.20:8080"),
])
def test_the_same_origin_matches(origin, scheme, host):
    assert same_origin(origin, scheme, host)


@pytest.mark.parametrize("origin, scheme, host", [
    ("https://localhost", "http", "localhost"),  # another scheme
    ("http://localhost", "https", "localhost"),
    ("https://localhost:80", "http", "localhost:80"),
    ("http://localhost:8081", "http", "localhost:8080"),  # another port
    ("http://localhost", "http", "localhost:8080"),
    ("http://napekit.local:8080", "http", "napekit.local"),
    ("http://localhost/", "http", "localhost"),  # an Origin has no path
    ("http://localhost/evil", "http", "localhost"),
    ("http://localhost?x=1", "http", "localhost"),
    ("http://localhost#x", "http", "localhost"),
    ("http://localhost?", "http", "localhost"),
    ("http://user@localhost", "http", "localhost"),
    ("http://localhost:abc", "http", "localhost"),
    ("http://localhost:99999", "http", "localhost:99999"),
    ("http://evil.example", "http", "localhost"),
    ("http://localhost.evil.example", "http", "localhost"),
    ("ftp://localhost", "ftp", "localhost"),
    ("null", "http", "localhost"),
    ("", "http", "localhost"),
    ("http://local host", "http", "local host"),
    ("http://localhost", "http", None),
])
def test_anything_else_does_not(origin, scheme, host):
    assert not same_origin(origin, scheme, host)


@pytest.mark.parametrize("origin", ["https://localhost", "http://localhost:8080",
                                    "http://localhost/pair", "http://localhost/"])
def test_a_post_from_another_origin_is_403_and_changes_nothing(client, sim_daemon, snapshot,
                                                                origin):
    headers = {"Origin": origin}
    assert_error(client.post("/api/pairing", headers=headers), 403, "Origin")
    assert_error(client.post("/api/sim/button", json={"action": "hold"}, headers=headers),
                 403, "Origin")
    assert_error(client.post("/api/sim/fault", json={"fault": "adc_spike"}, headers=headers),
                 403, "Origin")
    assert nothing_changed(sim_daemon, *snapshot)


def test_same_origin_works_over_http_on_a_local_name(client, sim_daemon):
    r = client.post("/api/pairing", base_url="http://napekit.local",
                    headers={"Origin": "http://napekit.local"})
    assert r.status_code == 200
    r = client.post("/api/pairing", base_url="https://napekit.local",
                    headers={"Origin": "https://napekit.local"})
    assert r.status_code == 200


# -- huge numbers and deep nesting in bodies --------------------------------------------------


@pytest.mark.parametrize("path, body, field", [
    ("/api/settings", f'{{"target_c": {BIG}}}', "target_c"),
    ("/api/settings", f'{{"target_c": -{BIG}}}', "target_c"),
    ("/api/settings", f'{{"hold_min": {BIG}}}', "hold_min"),
    ("/api/settings", f'{{"stage_s": {{"effleurage": {BIG}}}}}', "stage_s.effleurage"),
    ("/api/settings", '{"hold_min": 9223372036854775808}', "hold_min"),
    ("/api/settings", '{"target_c": ' + "[" * 900 + "]" * 900 + "}", "target_c"),
    ("/api/settings", '{"stage_s": ' + '{"a": ' * 40 + "1" + "}" * 41, "stage_s.a"),
    ("/api/settings", "[" * 900 + "]" * 900, None),
    ("/api/sim/button", f'{{"action": "hold", "duration_s": {BIG}}}', "duration_s"),
    ("/api/sim/fault", f'{{"fault": "adc_spike", "duration_s": {BIG}}}', "duration_s"),
    ("/api/sim/fault", f'{{"fault": "thermistor_open", "sensor": {BIG}}}', "sensor"),
    ("/api/sim/fault", f'{{"fault": "sensor_partial", "coupling": {BIG}}}', "coupling"),
    ("/api/session/start", f'{{"now": {BIG}}}', "now"),
    ("/api/pairing/link", f'{{"secret": {BIG}}}', "secret"),
])
def test_huge_numbers_and_deep_bodies_are_400_naming_the_field(paired_client, token,
                                                               sim_daemon, snapshot, path,
                                                               body, field):
    method = "PUT" if path == "/api/settings" else "POST"
    r = paired_client.open(path, method=method, data=body, content_type="application/json",
                           headers=bearer(token))
    answer = assert_error(r, 400, field)
    assert len(answer["error"]) < 200
    assert nothing_changed(sim_daemon, *snapshot)


@pytest.mark.parametrize("path", [f"/api/sessions/{BIG}", f"/api/sessions/{BIG}/samples.csv",
                                  "/api/sessions/9223372036854775808",
                                  f"/api/pairing/{BIG}"])
def test_huge_ids_in_paths_are_404(paired_client, path):
    assert paired_client.get(path).status_code == 404


def test_a_huge_phone_id_is_404_and_revokes_nothing(paired_client, sim_daemon):
    csrf = {"X-CSRF-Token": paired_client.get_cookie("napekit_csrf").value}
    assert_error(paired_client.delete(f"/api/phones/{BIG}", headers=csrf), 404, "id")
    assert len(sim_daemon.daemon.handle("phones", {}, None)["phones"]) == 1


# -- where the API and its document disagreed -------------------------------------------------


def test_get_on_the_link_endpoint_is_405_not_a_pairing_status(client):
    r = client.get("/api/pairing/link")
    assert_error(r, 405)
    assert "POST" in r.headers["Allow"] and "GET" not in r.headers["Allow"]


def test_a_press_with_a_duration_is_refused_and_the_document_says_so(client, sim_daemon,
                                                                     snapshot):
    assert_error(client.post("/api/sim/button", json={"action": "press", "duration_s": 3}),
                 400, "duration_s")
    assert nothing_changed(sim_daemon, *snapshot)
    press = next(branch for branch in document()["components"]["schemas"]["SimButton"]["oneOf"]
                 if branch["properties"]["action"]["const"] == "press")
    assert press["additionalProperties"] is False and "duration_s" not in press["properties"]


@pytest.mark.parametrize("body, field", [
    ({"fault": "adc_spike", "duration_s": None}, "duration_s"),
    ({"fault": "adc_spike", "coupling": None}, "coupling"),
    ({"fault": "thermistor_open", "sensor": None}, "sensor"),
])
def test_null_is_not_a_number_for_a_sim_fault(client, sim_daemon, snapshot, body, field):
    assert_error(client.post("/api/sim/fault", json=body), 400, field)
    assert nothing_changed(sim_daemon, *snapshot)


def test_the_link_secret_has_a_minimum_length_in_the_document_and_the_api(client):
    secret = document()["components"]["schemas"]["PairingLink"]["properties"]["secret"]
    assert secret["minLength"] == 1 and secret["maxLength"] == 256
    assert_error(client.post("/api/pairing/link", json={"secret": ""}), 400, "secret")


def test_every_operation_documents_500_and_those_with_a_path_parameter_404():
    for path, item in document()["paths"].items():
        for method, op in item.items():
            assert "500" in op["responses"], (method, path)
            if "{" in path or path.startswith("/api/sim/"):
                assert "404" in op["responses"], (method, path)


def test_a_sensor_written_as_2_0_is_sensor_2(client, sim_daemon):
    """JSON has one kind of number: the document's integer 2 may come as 2.0."""
    r = client.post("/api/sim/fault", json={"fault": "adc_spike", "sensor": 2.0})
    assert r.status_code == 200 and r.json == {"faults": ["adc_spike"]}
    sensors = sim_daemon.sim.sensors
    assert sensors[2].faults == {"adc_spike"} and not sensors[1].faults
