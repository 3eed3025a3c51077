"""A second, independent JOSE implementation (PyJWT) for the interoperability tests.

    python jose_tool.py mint ISSUER AUDIENCE
        Generates an RSA-2048, an EC P-256 and an Ed25519 key and prints one JSON object:
        {"jwks": {public keys}, "tokens": {"RS256": ..., "ES256": ..., "EdDSA": ...}}.
    python jose_tool.py verify JWKS_URL ISSUER AUDIENCE < token
        Verifies the token on stdin against the key set at JWKS_URL and prints its claims;
        exits 1 with the reason on stderr when PyJWT refuses it. AUDIENCE `-`: the token
        must carry no `aud`.
"""

import json
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ALGORITHMS = ["RS256", "ES256", "EdDSA"]


def mint(issuer, audience):
    keys = {
        "RS256": (rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm),
        "ES256": (ec.generate_private_key(ec.SECP256R1()), ECAlgorithm),
        "EdDSA": (ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm),
    }
    now = int(time.time())
    jwks, tokens = [], {}
    for alg, (private, family) in keys.items():
        kid = str(uuid.uuid4())
        public = json.loads(family.to_jwk(private.public_key()))
        jwks.append({**public, "kid": kid, "alg": alg, "use": "sig"})
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": f"pyjwt-{alg.lower()}",
            "iat": now,
            "exp": now + 300,
            "roles": ["reader"],
        }
        tokens[alg] = jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})
    print(json.dumps({"jwks": {"keys": jwks}, "tokens": tokens}))


def verify(jwks_url, issuer, audience):
    token = sys.stdin.read().strip()
    try:
        key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            issuer=issuer,
            audience=None if audience == "-" else audience,
            options={"require": ["exp", "iss", "sub"]},
        )
    except jwt.PyJWTError as error:
        print(f"refused: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(claims))


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["help"]
    if command == "mint" and len(args) == 2:
        mint(*args)
    elif command == "verify" and len(args) == 3:
        verify(*args)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
