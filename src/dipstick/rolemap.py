"""Which dipstick role an identity provider's groups give (DIPSTICK_OIDC_ROLES, docs/web.md).

The mapping is a list of ``group=role`` pairs, e.g.
``it-admins=admin,execs=leader,service-owners=owner,*=viewer``. A person in several mapped
groups gets the strongest of their roles (admin, then leader, owner, viewer), so adding
someone to one more group never takes rights away; ``*`` is the role of everyone else who
signed in. No pair matching and no ``*``: no role, and the sign-in is refused — an
organisation's directory holds many people who should not see the portfolio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dipstick.errors import UsageError

ROLES = ("admin", "leader", "owner", "viewer")   # strongest first; as store.tables.ROLES
ANYONE = "*"


def parse_role_map(text: str) -> dict[str, str]:
    """``group=role`` pairs, separated by commas or new lines (blank ones ignored); a clear
    error naming the pair that is not one."""
    found: dict[str, str] = {}
    for raw in text.replace("\n", ",").split(","):
        pair = raw.strip()
        if not pair:
            continue
        group, sep, role = pair.rpartition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group:
            raise UsageError(f"DIPSTICK_OIDC_ROLES: {pair!r} is not GROUP=ROLE")
        if role not in ROLES:
            raise UsageError(f"DIPSTICK_OIDC_ROLES: {pair!r}: the role must be one of "
                             f"{', '.join(ROLES)}")
        found[group] = role
    return found


def role_for(groups: Iterable[str], mapping: Mapping[str, str]) -> str | None:
    """The strongest role the groups map to, else the ``*`` role, else None (refused)."""
    roles = {mapping[g] for g in groups if g != ANYONE and g in mapping}
    for role in ROLES:
        if role in roles:
            return role
    return mapping.get(ANYONE)
