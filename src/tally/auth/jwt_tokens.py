"""JWT bearer tokens: verified signature and registered claims, then mapped to a principal.

The accepted algorithms come from configuration alone: an HS256 token is checked only against
the shared secret, an RS256/ES256 token only against public keys (PEM file or JWKS) of the same
family. That closes `alg: none` and the classic confusion where an HS256 token is "signed" with
the RSA public key used as an HMAC secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tally.auth.jwks import JwksCache
from tally.auth.principal import ROLES, Principal
from tally.auth.settings import ClaimsMapping, JwtSettings
from tally.errors import unauthorized

MIN_SECRET_BYTES = 32
MAX_SCOPE_VALUES = 1000
REASONS = {
    jwt.ExpiredSignatureError: "the token has expired",
    jwt.ImmatureSignatureError: "the token is not valid yet",
    jwt.InvalidAudienceError: "the token is for another audience",
    jwt.InvalidIssuerError: "the token is from another issuer",
    jwt.InvalidSignatureError: "the token's signature does not verify",
}


class JwtVerifier:
    def __init__(self, settings: JwtSettings, jwks: JwksCache | None = None) -> None:
        self.settings = settings
        self.algorithms = settings.allowed_algorithms()
        if not self.algorithms:
            raise ValueError("no JWT algorithm is left by TALLY_JWT_ALGORITHMS for these keys")
        secret = settings.hs256_secret
        if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"TALLY_JWT_HS256_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        key_file = settings.public_key_file
        self._pem = load_public_key(key_file.read_bytes()) if key_file else None
        if jwks is None and settings.jwks_url:
            jwks = JwksCache(
                settings.jwks_url, settings.jwks_min_refresh_s, settings.jwks_max_age_s
            )
        self.jwks = jwks

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; any problem is a 401 saying which check failed."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("the token is neither an API key nor a valid JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise unauthorized(
                f"tokens signed with {algorithm!r} are not accepted "
                f"(allowed: {', '.join(self.algorithms)})"
            )
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        keys = self._keys(algorithm, kid)
        if not keys:
            raise unauthorized("no signing key is known for this token")
        return principal_from_claims(self._decode(token, algorithm, keys), self.settings.claims)

    def _keys(self, algorithm: str, kid: str | None) -> list[Any]:
        if algorithm == "HS256":
            return [self._secret]
        keys: list[Any] = []
        if self._pem is not None and key_algorithm(self._pem) == algorithm:
            keys.append(self._pem)
        if self.jwks is not None:
            keys.extend(k.key for k in self.jwks.keys_for(kid, algorithm))
        return keys

    def _decode(self, token: str, algorithm: str, keys: list[Any]) -> dict[str, Any]:
        settings = self.settings
        required = ["exp"]
        required += ["iss"] if settings.issuer else []
        required += ["aud"] if settings.audience else []
        failure: jwt.PyJWTError = jwt.InvalidSignatureError()
        for key in keys:
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    audience=settings.audience,
                    issuer=settings.issuer,
                    leeway=settings.leeway_s,
                    options={"require": required, "verify_aud": settings.audience is not None},
                )
            except jwt.PyJWTError as exc:
                failure = exc
                if not isinstance(exc, jwt.InvalidSignatureError):
                    break
        reason = next((r for kind, r in REASONS.items() if isinstance(failure, kind)), None)
        raise unauthorized(reason or f"the token is not valid: {failure}")


def load_public_key(data: bytes) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A PEM public key, or the public key of a PEM certificate."""
    if b"BEGIN CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = load_pem_public_key(data)
    if isinstance(key, rsa.RSAPublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError("TALLY_JWT_PUBLIC_KEY_FILE must hold an RSA or P-256 EC public key")


def key_algorithm(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return "RS256" if isinstance(key, rsa.RSAPublicKey) else "ES256"


def principal_from_claims(claims: Mapping[str, Any], mapping: ClaimsMapping) -> Principal:
    """Subject, role, tenant scopes and teams of a verified token, as configured."""
    subject = claim(claims, mapping.subject)
    if isinstance(subject, int) and not isinstance(subject, bool):
        subject = str(subject)
    if not isinstance(subject, str) or not subject:
        raise unauthorized(f"the token has no {mapping.subject!r} claim")
    scopes: dict[str, tuple[str, ...]] = {}
    for name, column in mapping.scopes.items():
        values = strings(claims, name)
        if values:
            scopes[column] = tuple(dict.fromkeys((*scopes.get(column, ()), *values)))
    everything = mapping.all_tenants is not None and claim(claims, mapping.all_tenants) is True
    return Principal(
        subject=subject,
        role=_role(claims, mapping),
        scopes=scopes,
        all_tenants=everything,
        teams=strings(claims, mapping.teams),
    )


def _role(claims: Mapping[str, Any], mapping: ClaimsMapping) -> str:
    """The highest known role the claim names; the default when the claim is absent."""
    if claim(claims, mapping.role) is None:
        return mapping.default_role
    named = [mapping.roles.get(v, v) for v in strings(claims, mapping.role)]
    known = [r for r in named if r in ROLES]
    if not known:
        raise unauthorized(f"the token's {mapping.role!r} claim names no known role")
    return max(known, key=ROLES.index)


def claim(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by its exact name, else by a dotted path into nested objects."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def strings(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A claim that holds a string or a list of strings (numbers are read as their text)."""
    value = claim(claims, name)
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_SCOPE_VALUES or not all(
        isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in items
    ):
        raise unauthorized(f"the token's {name!r} claim must be a string or a list of strings")
    return tuple(str(v) for v in items)
