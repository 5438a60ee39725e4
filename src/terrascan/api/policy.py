"""Who may do what: one declarative table from action to the roles allowed to take it.

Every route that touches an organisation's data names its action through ``require(action)`` or
``require_member(action)`` (``terrascan.api.security``); nothing else decides permissions, and
``tests/api/test_orgs_policy.py`` walks this table against the real routes for every role.
"""

from __future__ import annotations

from terrascan.catalog.models import Role

OWNER = frozenset({Role.OWNER})
ADMIN_UP = frozenset({Role.OWNER, Role.ADMIN})
ANALYST_UP = frozenset({Role.OWNER, Role.ADMIN, Role.ANALYST})
EVERYONE = frozenset(Role)

#: action -> roles allowed to take it.
POLICY: dict[str, frozenset[Role]] = {
    # organisation
    "org:read": EVERYONE,
    "org:update": ADMIN_UP,
    "org:delete": OWNER,
    "org:members:read": EVERYONE,
    "org:members:manage": ADMIN_UP,
    "org:invitations:manage": ADMIN_UP,
    "audit:read": ADMIN_UP,
    "usage:read": ADMIN_UP,
    # areas of interest
    "aoi:read": EVERYONE,
    "aoi:create": ANALYST_UP,
    "aoi:update": ANALYST_UP,
    "aoi:delete": ANALYST_UP,
    # imagery, analyses, jobs, results (routes added by later issues)
    "imagery:read": EVERYONE,
    "imagery:write": ANALYST_UP,
    "imagery:delete": ADMIN_UP,
    "analysis:run": ANALYST_UP,
    "job:read": EVERYONE,
    "job:cancel": ANALYST_UP,
    "result:export": ANALYST_UP,
    "share:read": EVERYONE,
    "share:create": ANALYST_UP,
    "share:revoke": ANALYST_UP,
    "alert:read": EVERYONE,
    "alert:manage": ANALYST_UP,
}


def allowed(role: Role, action: str) -> bool:
    """Whether ``role`` may take ``action``. An action missing from the table is a programming
    error, not a silent denial."""
    try:
        return role in POLICY[action]
    except KeyError:
        raise KeyError(f"action {action!r} is not in the policy table") from None


#: Granting or changing the owner role needs an owner; admins manage everyone else.
def may_assign(actor: Role, target_old: Role | None, target_new: Role | None) -> bool:
    """Whether ``actor`` may move a member from ``target_old`` to ``target_new`` (``None``: not
    a member / removed)."""
    if Role.OWNER in (target_old, target_new):
        return actor is Role.OWNER
    return actor in POLICY["org:members:manage"]
