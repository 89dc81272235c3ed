"""Who is asking, and which part of the org tree they may see: pure logic, no database."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.accounts.tables import Role

OFFICIAL_ROLES = frozenset({Role.street, Role.district, Role.city})
COMPANY_ROLES = frozenset({Role.operator, Role.owner})

# The org kind each role is granted on.
ROLE_ORG_KIND = {
    Role.city: "city",
    Role.district: "district",
    Role.street: "street",
    Role.operator: "operator",
    Role.owner: "owner",
    Role.auditor: "city",
    Role.resident: "community",
    Role.surveyor: "district",
}

# A resident's grant names their community but opens none of the org tree's records: what a resident may see
# (their own account, their community's polls) the residents package decides.
# A surveyor's grant names its district likewise: it reaches the district's survey aggregates and offline
# uploads only (the residents package decides), no other record of the district.
SCOPELESS_ROLES = frozenset({Role.resident, Role.surveyor})


@dataclass(frozen=True)
class Grant:
    role: Role
    org_id: int
    org_path: str
    org_name: str = ""


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def has_role(self, *roles: Role) -> bool:
        return any(g.role in roles for g in self.grants)

    def read_paths(self) -> list[str]:
        """Subtrees this user may read: the union over every grant, with nested ones folded."""
        return fold_paths(g.org_path for g in self.grants if g.role not in SCOPELESS_ROLES)

    def write_paths(self, *roles: Role) -> list[str]:
        """Subtrees where this user may act in one of `roles` (default: any role but auditor)."""
        wanted = set(roles) if roles else set(Role) - {Role.auditor} - SCOPELESS_ROLES
        return fold_paths(g.org_path for g in self.grants if g.role in wanted)

    def org_ids(self, *roles: Role) -> list[int]:
        return sorted({g.org_id for g in self.grants if not roles or g.role in roles})

    def can_read_path(self, path: str) -> bool:
        return path_in_scope(path, self.read_paths())

    def can_write_path(self, path: str, *roles: Role) -> bool:
        return path_in_scope(path, self.write_paths(*roles))

    @property
    def actor_label(self) -> str:
        return self.display_name or self.username


def path_in_scope(path: str, scope_paths: list[str]) -> bool:
    return any(path.startswith(prefix) for prefix in scope_paths)


def fold_paths(paths) -> list[str]:
    """Drop paths already inside another one, so '/1/' and '/1/4/' become ['/1/']."""
    unique = sorted(set(paths), key=len)
    kept: list[str] = []
    for path in unique:
        if not path_in_scope(path, kept):
            kept.append(path)
    return sorted(kept)


def like_patterns(paths: list[str]) -> list[str]:
    """SQL LIKE patterns for a subtree match; paths hold only digits and slashes, so nothing to escape."""
    return [p + "%" for p in paths]
