"""Access settings: how JWTs are verified and mapped, and rate limits.

The values come from `tally.config` (the `jwt_*` and `rate_limit_*` settings); these are the
views the verifier and the limiter read, with the parsing and checks that belong to them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tally.auth.principal import ROLES

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
SYMMETRIC_ALGORITHMS = ("HS256",)
DEFAULT_SCOPE_CLAIMS = {
    "workspaces": "workspace_id",
    "brands": "brand_id",
    "catalogs": "catalog_id",
    "tenant_ids": "tenant_id",
    "projects": "project_id",
}
DEFAULT_RATES = {"viewer": "1200/60", "editor": "2400/60", "admin": "6000/60"}


@dataclass(frozen=True)
class ClaimsMapping:
    """Which claims of a token make the principal; claim names may be dotted nested paths."""

    subject: str = "sub"
    role: str = "role"
    default_role: str = "viewer"
    roles: dict[str, str] = field(default_factory=dict)
    teams: str = "teams"
    scopes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SCOPE_CLAIMS))
    all_tenants: str | None = None

    @classmethod
    def from_json(cls, text: str) -> ClaimsMapping:
        """TALLY_JWT_CLAIMS, e.g. `{"role": "tally_role", "scopes": {"orgs": "workspace_id"}}`."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"TALLY_JWT_CLAIMS is not valid JSON: {exc.msg}") from None
        if not isinstance(raw, dict):
            raise ValueError("TALLY_JWT_CLAIMS must be a JSON object")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"TALLY_JWT_CLAIMS has unknown keys: {', '.join(sorted(unknown))}")
        mapping = cls(**raw)
        mapping.check()
        return mapping

    def check(self) -> None:
        if self.default_role not in ROLES:
            raise ValueError(f"default_role must be one of {', '.join(ROLES)}")
        bad = sorted(r for r in self.roles.values() if r not in ROLES)
        if bad:
            raise ValueError(f"roles map to unknown roles: {', '.join(bad)}")
        if not isinstance(self.scopes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.scopes.items()
        ):
            raise ValueError("scopes must map claim names to scope column names")


@dataclass(frozen=True)
class JwtSettings:
    jwks_url: str | None = None
    public_key_file: Path | None = None
    hs256_secret: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_s: float = 30.0
    algorithms: tuple[str, ...] | None = None
    jwks_min_refresh_s: float = 30.0
    jwks_max_age_s: float = 600.0
    claims: ClaimsMapping = field(default_factory=ClaimsMapping)

    @property
    def enabled(self) -> bool:
        return bool(self.jwks_url or self.public_key_file or self.hs256_secret)

    def allowed_algorithms(self) -> tuple[str, ...]:
        """Fixed by which keys are configured (and narrowed by TALLY_JWT_ALGORITHMS), never
        by a token's header."""
        offered: tuple[str, ...] = ()
        if self.jwks_url or self.public_key_file:
            offered += ASYMMETRIC_ALGORITHMS
        if self.hs256_secret:
            offered += SYMMETRIC_ALGORITHMS
        if self.algorithms is None:
            return offered
        return tuple(a for a in offered if a in self.algorithms)


@dataclass(frozen=True)
class Rate:
    """A token bucket: `requests` every `seconds`, holding at most `burst` at once."""

    requests: int
    seconds: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """`"600/60"` (burst = requests) or `"600/60:900"`; `"off"` means no limit."""
        if text.strip().lower() in ("off", "none", "0"):
            return None
        spec, _, burst = text.partition(":")
        requests, sep, seconds = spec.partition("/")
        try:
            rate = cls(int(requests), float(seconds), int(burst) if burst else int(requests))
        except ValueError:
            rate = None
        if not sep or rate is None or rate.requests < 1 or rate.seconds <= 0 or rate.burst < 1:
            raise ValueError(f"a rate limit is <requests>/<seconds>[:<burst>] or off, not {text!r}")
        return rate


@dataclass(frozen=True)
class RateLimitSettings:
    per_role: dict[str, Rate | None] = field(
        default_factory=lambda: {role: Rate.parse(text) for role, text in DEFAULT_RATES.items()}
    )
