"""Account repositories on SQLite and PostGIS: token families, members, invitations, outbox,
usage and audit queries, each scoped to one organisation."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import box
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.exc import DBAPIError

from terrascan.catalog.accounts import (
    AuditLogRepository,
    InvitationRepository,
    OrganizationRepository,
    OutboxRepository,
    RefreshTokenRepository,
    Rotation,
    UsageRepository,
    check_period,
    scope_to_org,
)
from terrascan.catalog.database import Catalog
from terrascan.catalog.models import AOI, Invitation, OutboxMessage, RefreshToken, Role, User
from terrascan.catalog.repositories import AOIRepository, AuditRepository, UserRepository
from terrascan.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError

DAY = timedelta(days=1)


def _users(catalog: Catalog, *emails: str) -> list[User]:
    with catalog.session() as session:
        repo = UserRepository(session)
        return [repo.create(email=e, name=e.split("@")[0], password_hash=None) for e in emails]


# ----------------------------------------------------------------------------- refresh tokens


def test_rotation_keeps_the_family_and_reuse_revokes_it(catalog: Catalog) -> None:
    (user,) = _users(catalog, "r@example.org")
    with catalog.session() as session:
        first, row = RefreshTokenRepository(session).issue(user.id, ttl=DAY)
        family = row.family_id
        assert row.token_hash == hashlib.sha256(first.encode()).hexdigest()
        assert len(first) >= 43  # 256 bits, URL-safe base64
    with catalog.session() as session:
        rotation = RefreshTokenRepository(session).rotate(first, ttl=DAY)
        assert rotation.family_id == family and rotation.user_id == user.id
        assert rotation.token is not None and rotation.token != first
        second = rotation.token
    with catalog.session() as session:
        third = RefreshTokenRepository(session).rotate(second, ttl=DAY).token
        assert third is not None
    with catalog.session() as session:
        repo = RefreshTokenRepository(session)
        assert repo.family_active(family, user.id)
        replay = repo.rotate(first, ttl=DAY)
        assert replay.reused and replay.family_id == family
    with catalog.session() as session:
        repo = RefreshTokenRepository(session)
        rows = session.scalars(select(RefreshToken).where(RefreshToken.family_id == family)).all()
        assert len(rows) == 3 and all(r.revoked_at is not None for r in rows)
        assert not repo.family_active(family, user.id)
        with pytest.raises(AuthenticationError):
            repo.rotate(third, ttl=DAY)  # the newest token died with its family


def test_two_concurrent_uses_of_one_token_count_as_reuse(catalog: Catalog) -> None:
    """The second of two simultaneous refreshes with one token waits for the first, then finds
    the token rotated: it must not get a token of its own, and the family is revoked."""
    (user,) = _users(catalog, "race@example.org")
    with catalog.session() as session:
        raw, row = RefreshTokenRepository(session).issue(user.id, ttl=DAY)
    results: dict[str, Rotation | BaseException] = {}

    def second() -> None:
        try:
            with catalog.session() as s:
                results["b"] = RefreshTokenRepository(s).rotate(raw, ttl=DAY)
        except BaseException as exc:  # reported below
            results["b"] = exc

    with catalog.session() as session:
        results["a"] = RefreshTokenRepository(session).rotate(raw, ttl=DAY)
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # blocked behind the first rotation's uncommitted write
    thread.join(10)
    first, late = results["a"], results["b"]
    assert isinstance(first, Rotation) and first.token is not None
    assert isinstance(late, Rotation) and late.reused
    with catalog.session() as session:
        assert not RefreshTokenRepository(session).family_active(row.family_id, user.id)


def test_unknown_and_expired_tokens_are_refused(catalog: Catalog) -> None:
    (user,) = _users(catalog, "e@example.org")
    with catalog.session() as session:
        repo = RefreshTokenRepository(session)
        raw, _ = repo.issue(user.id, ttl=timedelta(seconds=-1))
        with pytest.raises(AuthenticationError, match="expired"):
            repo.rotate(raw, ttl=DAY)
        with pytest.raises(AuthenticationError):
            repo.rotate("never-issued", ttl=DAY)


def test_logout_and_revoke_all(catalog: Catalog) -> None:
    (user,) = _users(catalog, "l@example.org")
    with catalog.session() as session:
        repo = RefreshTokenRepository(session)
        a, row_a = repo.issue(user.id, ttl=DAY)
        _, row_b = repo.issue(user.id, ttl=DAY)
        _, row_c = repo.issue(user.id, ttl=DAY)
        assert repo.revoke_token(a) == user.id
        assert repo.revoke_token("unknown") is None
        assert not repo.family_active(row_a.family_id, user.id)
        repo.revoke_all(user.id, except_family=row_b.family_id)
        assert repo.family_active(row_b.family_id, user.id)
        assert not repo.family_active(row_c.family_id, user.id)
        assert not repo.family_active(row_b.family_id, uuid.uuid4())  # someone else's id


# ----------------------------------------------------------------------------- organisations


def test_membership_scopes_organisations(catalog: Catalog) -> None:
    alice, bob = _users(catalog, "alice@example.org", "bob@example.org")
    with catalog.session() as session:
        repo = OrganizationRepository(session)
        team = repo.create_team("Rangers", owner_id=alice.id)
        assert repo.membership(team.id, alice.id).role is Role.OWNER
        with pytest.raises(NotFoundError):
            repo.membership(team.id, bob.id)
        with pytest.raises(NotFoundError):
            repo.membership(uuid.uuid4(), alice.id)
        assert repo.personal_org(bob.id).org.is_personal
        assert [m.org.is_personal for m in repo.memberships(alice.id)] == [True, False]
        with pytest.raises(ConflictError):
            repo.delete(repo.personal_org(alice.id).org)


def test_signed_in_role_agrees_with_the_separate_checks(catalog: Catalog) -> None:
    """The one-query check tile requests use gives what ``family_active``, ``membership`` and
    ``personal_org`` give, and nothing where any of them refuses."""
    alice, bob = _users(catalog, "sa@example.org", "sb@example.org")
    with catalog.session() as session:
        tokens, orgs = RefreshTokenRepository(session), OrganizationRepository(session)
        _, live = tokens.issue(bob.id, ttl=DAY)
        ended_raw, ended = tokens.issue(bob.id, ttl=DAY)
        _, expired = tokens.issue(bob.id, ttl=-DAY)
        tokens.revoke_token(ended_raw)
        _, alices = tokens.issue(alice.id, ttl=DAY)
        team = orgs.create_team("Signed in", owner_id=alice.id)
        orgs.add_member(team.id, bob.id, Role.ANALYST)
        personal = orgs.personal_org(bob.id).org.id

    def role(user: User, family: uuid.UUID, org: uuid.UUID | None) -> object:
        with catalog.session() as session:
            return OrganizationRepository(session).signed_in_role(user.id, family, org)

    assert role(bob, live.family_id, None) == (personal, Role.OWNER)
    assert role(bob, live.family_id, team.id) == (team.id, Role.ANALYST)
    assert role(alice, alices.family_id, team.id) == (team.id, Role.OWNER)
    assert role(bob, ended.family_id, None) is None  # signed out
    assert role(bob, expired.family_id, team.id) is None  # expired
    assert role(bob, alices.family_id, None) is None  # someone else's sign-in session
    assert role(bob, live.family_id, uuid.uuid4()) is None  # no such organisation
    with catalog.session() as session:
        OrganizationRepository(session).remove_member(team.id, bob.id)
    assert role(bob, live.family_id, team.id) is None  # removed
    assert role(bob, live.family_id, None) == (personal, Role.OWNER)
    with catalog.session() as session:
        session.execute(update(User).where(User.id == bob.id).values(is_active=False))
    assert role(bob, live.family_id, None) is None  # deactivated


def test_the_last_owner_stays(catalog: Catalog) -> None:
    alice, bob = _users(catalog, "o1@example.org", "o2@example.org")
    with catalog.session() as session:
        repo = OrganizationRepository(session)
        team = repo.create_team("Owners", owner_id=alice.id)
        with pytest.raises(ConflictError):
            repo.set_role(team.id, alice.id, Role.ADMIN)
        with pytest.raises(ConflictError):
            repo.remove_member(team.id, alice.id)
        repo.add_member(team.id, bob.id, Role.VIEWER)
        with pytest.raises(ConflictError):
            repo.add_member(team.id, bob.id, Role.ADMIN)
        assert repo.set_role(team.id, bob.id, Role.OWNER) is Role.VIEWER
        assert repo.set_role(team.id, alice.id, Role.ANALYST) is Role.OWNER  # bob still owns
        assert [(m.user.email, m.role) for m in repo.members(team.id)] == [
            ("o1@example.org", Role.ANALYST),
            ("o2@example.org", Role.OWNER),
        ]
        with pytest.raises(ConflictError):
            repo.remove_member(team.id, bob.id)
        assert repo.remove_member(team.id, alice.id) is Role.ANALYST
        with pytest.raises(NotFoundError):
            repo.member(team.id, alice.id)


# ----------------------------------------------------------------------------- invitations


def test_invitations(catalog: Catalog) -> None:
    owner, invitee, stranger = _users(
        catalog, "boss@example.org", "new@example.org", "other@example.org"
    )
    with catalog.session() as session:
        orgs = OrganizationRepository(session)
        team = orgs.create_team("Invites", owner_id=owner.id)
        other_team = orgs.create_team("Elsewhere", owner_id=stranger.id)
        repo = InvitationRepository(session)
        with pytest.raises(ConflictError):
            repo.create(
                orgs.personal_org(owner.id).org,
                email="new@example.org",
                role=Role.VIEWER,
                invited_by=owner.id,
                ttl=DAY,
            )
        with pytest.raises(ConflictError):
            repo.create(
                team, email="BOSS@example.org", role=Role.VIEWER, invited_by=owner.id, ttl=DAY
            )
        raw, invitation = repo.create(
            team, email="New@Example.org", role=Role.ANALYST, invited_by=owner.id, ttl=DAY
        )
        assert invitation.email == "new@example.org"
        assert invitation.token_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert [i.id for i in repo.pending(team.id)] == [invitation.id]
        assert repo.pending(other_team.id) == []
        with pytest.raises(NotFoundError):
            repo.get(invitation.id, org_id=other_team.id)
        with pytest.raises(NotFoundError):  # the token is not enough: the address must match
            repo.accept(raw, stranger)
        repo.accept(raw, invitee)
        assert orgs.membership(team.id, invitee.id).role is Role.ANALYST
        with pytest.raises(NotFoundError):  # used once
            repo.accept(raw, invitee)
        assert repo.pending(team.id) == []


def test_expired_and_revoked_invitations_are_dead(catalog: Catalog) -> None:
    owner, invitee = _users(catalog, "boss2@example.org", "late@example.org")
    with catalog.session() as session:
        team = OrganizationRepository(session).create_team("Late", owner_id=owner.id)
        repo = InvitationRepository(session)
        expired, _ = repo.create(
            team,
            email="late@example.org",
            role=Role.VIEWER,
            invited_by=owner.id,
            ttl=timedelta(seconds=-1),
        )
        revoked, row = repo.create(
            team, email="late@example.org", role=Role.VIEWER, invited_by=owner.id, ttl=DAY
        )
        repo.revoke(row.id, org_id=team.id)
        for raw in (expired, revoked):
            with pytest.raises(NotFoundError):
                repo.accept(raw, invitee)
        with pytest.raises(NotFoundError):
            repo.revoke(row.id, org_id=uuid.uuid4())
        assert session.scalars(select(Invitation.accepted_at)).all() == [None, None]


# ----------------------------------------------------------------------------- outbox, usage, audit


def test_outbox_retries_then_gives_up(catalog: Catalog) -> None:
    with catalog.session() as session:
        repo = OutboxRepository(session)
        flaky = repo.enqueue(to="a@example.org", subject="s", body="b")
        fine = repo.enqueue(to="b@example.org", subject="s", body="b")
        assert [m.id for m in repo.pending()] == [flaky.id, fine.id]
        repo.mark_sent(fine)
        for _ in range(3):
            repo.mark_failed(flaky, "connection refused", max_attempts=3)
        assert repo.pending() == []
        statuses = dict(
            session.execute(select(OutboxMessage.to_address, OutboxMessage.status)).all()
        )
    assert statuses == {"a@example.org": "failed", "b@example.org": "sent"}


def test_usage_totals_per_period_and_metric(catalog: Catalog) -> None:
    a, b = _users(catalog, "ua@example.org", "ub@example.org")
    with catalog.session() as session:
        orgs = OrganizationRepository(session)
        org_a, org_b = orgs.personal_org(a.id).org.id, orgs.personal_org(b.id).org.id
        repo = UsageRepository(session)
        for quantity, period in ((1.5, "2024-01"), (2.0, "2024-01"), (4.0, "2024-02")):
            repo.record("km2_processed", quantity, org_id=org_a, period=period)
        repo.record("jobs", 1, org_id=org_a, period="2024-01")
        repo.record("km2_processed", 100, org_id=org_b, period="2024-01")
        totals = [(t.period, t.metric, t.quantity) for t in repo.totals(org_id=org_a)]
        assert totals == [
            ("2024-02", "km2_processed", 4.0),
            ("2024-01", "jobs", 1.0),
            ("2024-01", "km2_processed", 3.5),
        ]
        january = repo.totals(org_id=org_a, period="2024-01")
        assert [(t.metric, t.quantity) for t in january] == [("jobs", 1.0), ("km2_processed", 3.5)]
        assert repo.record("x", 1, org_id=org_b).period == datetime.now(UTC).strftime("%Y-%m")
    assert check_period("2024-12") == "2024-12"
    with pytest.raises(InvalidInputError):
        check_period("2024-13")


def test_audit_list_is_scoped_and_filtered(catalog: Catalog) -> None:
    a, b = _users(catalog, "aa@example.org", "ab@example.org")
    with catalog.session() as session:
        orgs = OrganizationRepository(session)
        org_a, org_b = orgs.personal_org(a.id).org.id, orgs.personal_org(b.id).org.id
        writer = AuditRepository(session)
        t0 = datetime(2024, 5, 1, tzinfo=UTC)
        for i, action in enumerate(["auth.login", "aoi.deleted", "auth.login_failed"]):
            writer.record(action, org_id=org_a, actor_id=a.id).created_at = t0 + timedelta(
                minutes=i
            )
        writer.record("auth.login", org_id=org_b, actor_id=b.id)
        session.flush()
        repo = AuditLogRepository(session)
        assert [e.action for e in repo.list(org_id=org_a)] == [
            "auth.login_failed",
            "aoi.deleted",
            "auth.login",
        ]
        assert [e.action for e in repo.list(org_id=org_a, actions=["auth.login"])] == ["auth.login"]
        assert [e.actor_id for e in repo.list(org_id=org_b)] == [b.id]
        assert [e.action for e in repo.list(org_id=org_a, limit=1, offset=1)] == ["aoi.deleted"]


# ----------------------------------------------------------------------------- row-level security


@contextmanager
def app_role(database_url: str) -> Iterator[str]:
    """A login role that does not own the tables, with ordinary DML grants (as a deployment
    would create for the API); yields a URL that connects as it."""
    role = f"terrascan_app_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        conn.execute(
            text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        )
    try:
        yield database_url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.postgres
def test_row_level_security_confines_a_scoped_transaction(postgis_url: str) -> None:
    owner = Catalog(postgis_url)
    owner.upgrade()
    a, b = _users(owner, "rls-a@example.org", "rls-b@example.org")
    with owner.session() as session:
        orgs = OrganizationRepository(session)
        org_a, org_b = orgs.personal_org(a.id).org.id, orgs.personal_org(b.id).org.id
    owner.dispose()
    with app_role(postgis_url) as url:
        catalog = Catalog(url)
        try:
            with catalog.session() as session:  # unscoped (workers, sign-in): every row
                repo = AOIRepository(session)
                for org in (org_a, org_b):
                    repo.add(AOI(org_id=org, name=str(org), geometry=box(0, 0, 1, 1), area_km2=1))
                assert len(session.scalars(select(AOI)).all()) == 2
            with catalog.session() as session:
                scope_to_org(session, org_a)
                # A query with no org filter at all still sees only A's rows ...
                assert [r.org_id for r in session.scalars(select(AOI))] == [org_a]
                # ... and cannot change B's.
                changed = session.execute(update(AOI).values(name="hijacked"))
                assert changed.rowcount == 1  # type: ignore[attr-defined]
            with (
                pytest.raises(DBAPIError, match="row-level security"),
                catalog.session() as session,
            ):
                scope_to_org(session, org_a)
                session.add(AOI(org_id=org_b, name="planted", geometry=box(0, 0, 1, 1), area_km2=1))
                session.flush()
            with catalog.session() as session:
                names = dict(session.execute(select(AOI.org_id, AOI.name)).all())
            assert names == {org_a: "hijacked", org_b: str(org_b)}
        finally:
            catalog.dispose()
