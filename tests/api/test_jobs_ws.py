"""Job progress over a WebSocket: auth by the first frame, the job's current state first, the
progress events, a terminal status and a normal close; bad auth 4401, others' jobs 4404."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from terrascan.api.routes import jobs as jobs_routes
from tests.api._accounts import Account, account_settings, open_client, signup
from tests.api._analysis import wait_for


@dataclass
class Setup:
    client: TestClient
    alice: Account
    bob: Account


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with open_client(account_settings(tmp_path_factory.mktemp("jobs-ws"))) as client:
        yield Setup(client, signup(client, "alice@example.org"), signup(client, "bob@example.org"))


def _sleep_job(s: Setup, seconds: float, steps: int) -> str:
    job = s.client.app.state.jobs.submit(  # type: ignore[attr-defined]
        "diagnostic.sleep",
        {"seconds": seconds, "steps": steps},
        org_id=s.alice.personal_org,
        created_by=s.alice.user_id,
        allow_diagnostic=True,
    )
    return str(job.id)


def _auth(who: Account, **extra: Any) -> str:
    return json.dumps({"type": "auth", "access_token": who.access, **extra})


def _follow(client: TestClient, job_id: str, frame: str) -> tuple[list[dict[str, Any]], int]:
    """Events received until the server closes, and the close code."""
    events = []
    with client.websocket_connect(f"/api/v1/jobs/{job_id}/ws") as ws:
        ws.send_text(frame)
        while True:
            try:
                events.append(json.loads(ws.receive_text()))
            except WebSocketDisconnect as closed:
                return events, closed.code


def test_events_arrive_until_the_job_completes(setup: Setup) -> None:
    job_id = _sleep_job(setup, seconds=1.5, steps=5)
    events, code = _follow(setup.client, job_id, _auth(setup.alice))
    assert code == 1000
    assert events[0]["kind"] == "status" and events[0]["job_id"] == job_id
    assert events[-1]["kind"] == "status" and events[-1]["status"] == "completed"
    progress = [e["progress_pct"] for e in events if e["kind"] == "progress"]
    assert len(progress) >= 3 and progress == sorted(progress) and progress[-1] == 100
    assert {e["job_id"] for e in events} == {job_id}
    assert wait_for(setup.client, setup.alice, job_id)["status"] == "completed"


def test_a_finished_job_sends_its_state_and_closes(setup: Setup) -> None:
    job_id = _sleep_job(setup, seconds=0, steps=1)
    wait_for(setup.client, setup.alice, job_id)
    organisation = str(setup.alice.personal_org)
    events, code = _follow(setup.client, job_id, _auth(setup.alice, organization_id=organisation))
    assert code == 1000 and [e["status"] for e in events] == ["completed"]


@pytest.mark.parametrize(
    "frame",
    [
        json.dumps({"type": "auth", "access_token": "not-a-jwt"}),
        json.dumps({"type": "auth"}),
        json.dumps({"type": "hello", "access_token": "x"}),
        "not json",
        json.dumps(["auth"]),
    ],
)
def test_bad_auth_closes_with_4401(setup: Setup, frame: str) -> None:
    job_id = _sleep_job(setup, seconds=0, steps=1)
    events, code = _follow(setup.client, job_id, frame)
    assert (events, code) == ([], 4401)


def test_a_tampered_token_closes_with_4401(setup: Setup) -> None:
    job_id = _sleep_job(setup, seconds=0, steps=1)
    head, body, signature = setup.alice.access.split(".")
    forged = f"{head}.{body}.{signature[::-1]}"
    frame = json.dumps({"type": "auth", "access_token": forged})
    assert _follow(setup.client, job_id, frame) == ([], 4401)


def test_no_auth_frame_in_time_closes_with_4401(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_routes, "WS_AUTH_TIMEOUT_S", 0.2)
    job_id = _sleep_job(setup, seconds=0, steps=1)
    with (
        setup.client.websocket_connect(f"/api/v1/jobs/{job_id}/ws") as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_text()
    assert closed.value.code == 4401


def test_other_organisations_and_unknown_jobs_close_with_4404(setup: Setup) -> None:
    job_id = _sleep_job(setup, seconds=0, steps=1)
    assert _follow(setup.client, job_id, _auth(setup.bob)) == ([], 4404)
    claiming = _auth(setup.bob, organization_id=str(setup.alice.personal_org))
    assert _follow(setup.client, job_id, claiming) == ([], 4404)
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        assert _follow(setup.client, unknown, _auth(setup.alice)) == ([], 4404)
    # the control: the owner is served on the same job
    events, code = _follow(setup.client, job_id, _auth(setup.alice))
    assert code == 1000 and events[-1]["status"] == "completed"


def test_job_list_filters_apply_to_the_query_not_the_page(setup: Setup) -> None:
    """GET /jobs filters by job_type and status before paging: the oldest job of a type is
    found on the first page of its filter, and pages of a filter hold every match once."""
    client, alice = setup.client, setup.alice
    noop = client.app.state.jobs.submit(  # type: ignore[attr-defined]
        "diagnostic.noop", {}, org_id=alice.personal_org, allow_diagnostic=True
    )
    sleeps = {_sleep_job(setup, seconds=0, steps=1) for _ in range(3)}
    for job_id in {str(noop.id), *sleeps}:
        wait_for(client, alice, job_id)
    first = client.get(
        "/api/v1/jobs", params={"job_type": "diagnostic.noop", "limit": 1}, headers=alice.headers
    ).json()
    assert [i["id"] for i in first["items"]] == [str(noop.id)] and first["next_offset"] is None
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(
            "/api/v1/jobs",
            params={"job_type": "diagnostic.sleep", "status": "completed", "limit": 2,
                    "offset": offset},
            headers=alice.headers,
        ).json()  # fmt: skip
        assert len(page["items"]) <= 2
        assert {(i["job_type"], i["status"]) for i in page["items"]} <= {
            ("diagnostic.sleep", "completed")
        }
        seen += [i["id"] for i in page["items"]]
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) and sleeps <= set(seen)
    everything = client.get("/api/v1/jobs", params={"limit": 200}, headers=alice.headers).json()
    completed_sleeps = {
        i["id"] for i in everything["items"]
        if i["job_type"] == "diagnostic.sleep" and i["status"] == "completed"
    }  # fmt: skip
    assert set(seen) == completed_sleeps


def _short_lived_token(setup: Setup) -> str:
    """An access token of alice's sign-in session with two seconds left to live."""
    from datetime import UTC, datetime, timedelta

    tokens = setup.client.app.state.tokens  # type: ignore[attr-defined]
    claims = tokens.decode_access(setup.alice.access)
    issued = datetime.now(UTC) - tokens.access_ttl + timedelta(seconds=2)
    return str(tokens.issue_access(claims.user_id, claims.session_id, now=issued))


def test_the_stream_closes_when_its_token_expires(setup: Setup) -> None:
    short = _short_lived_token(setup)
    job_id = _sleep_job(setup, seconds=8, steps=40)
    frame = json.dumps({"type": "auth", "access_token": short})
    events, code = _follow(setup.client, job_id, frame)
    assert code == 4401
    assert events and events[-1]["status"] != "completed"  # closed before the job ended
    setup.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=setup.alice.headers)


def test_the_event_stream_ends_when_its_token_expires(setup: Setup) -> None:
    short = _short_lived_token(setup)
    job_id = _sleep_job(setup, seconds=8, steps=40)
    statuses = []
    with setup.client.stream(
        "GET", f"/api/v1/jobs/{job_id}/events", headers={"Authorization": f"Bearer {short}"}
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                statuses.append(json.loads(line[6:])["status"])
    assert statuses and "completed" not in statuses  # ended with the token, not the job
    setup.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=setup.alice.headers)
