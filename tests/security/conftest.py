"""Keys of a pretend identity provider, and its JWKS endpoint, for the JWT tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.security.jwt_support import Jwks, Signer, serve_jwks


@pytest.fixture(scope="module")
def rsa_signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa-1", "RS256")


@pytest.fixture(scope="module")
def ec_signer() -> Signer:
    return Signer(ec.generate_private_key(ec.SECP256R1()), "ec-1", "ES256")


@pytest.fixture
def jwks(rsa_signer: Signer, ec_signer: Signer) -> Iterator[Jwks]:
    with serve_jwks(Jwks(keys=[rsa_signer.jwk(), ec_signer.jwk()])) as state:
        yield state
