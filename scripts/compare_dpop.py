#!/usr/bin/env python3
"""DPoP proofs (RFC 9449 §4) for the ``dpop_*`` cells of scripts/compare, which wrk cannot sign.

Run by scripts/compare_run.py with a Python that has ``cryptography`` (the FastAPI peer's
virtual environment, whose requirements pin it, or the system's); compare_run.py itself uses
only the standard library. Two commands:

- ``key KEY_FILE``: generates a P-256 client key, writes it to KEY_FILE (PKCS #8 PEM) and
  prints the RFC 7638 SHA-256 thumbprint of its public JWK, the token's ``cnf.jkt``;
- ``proofs KEY_FILE TOKEN_FILE COUNT HTU OUT_FILE``: writes COUNT ES256 proofs by that key,
  one a line, for ``GET HTU`` with the access token in TOKEN_FILE (``ath``): each with its own
  random ``jti``, all with ``iat`` now, so they must be used within the server's maximum age.

The format is the conformance suite's (``tests/src/dpop_proof.rs``): header
``{"typ":"dpop+jwt","alg":"ES256","jwk":<public JWK>}``, claims ``jti``, ``htm``, ``htu``,
``iat`` and ``ath``, the signature in JWS form (R‖S, RFC 7518 §3.4).
"""

import base64
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

P256_BYTES = 32


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(value):
    """JSON without whitespace."""
    return json.dumps(value, separators=(",", ":"))


def public_jwk(key):
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(P256_BYTES, "big")),
        "y": b64(numbers.y.to_bytes(P256_BYTES, "big")),
    }


def thumbprint(jwk):
    """RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace."""
    canonical = compact({name: jwk[name] for name in ("crv", "kty", "x", "y")})
    return b64(hashlib.sha256(canonical.encode()).digest())


def load_key(path):
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def write_key(path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    Path(path).write_bytes(pem)
    Path(path).chmod(0o600)
    print(thumbprint(public_jwk(key)))


def write_proofs(key_path, token_path, count, htu, out_path):
    key = load_key(key_path)
    token = Path(token_path).read_text().strip()
    header = b64(compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key)}).encode())
    ath = b64(hashlib.sha256(token.encode("ascii")).digest())
    iat = int(time.time())
    algorithm = ec.ECDSA(hashes.SHA256())
    with open(out_path, "w") as out:
        for _ in range(count):
            claims = {"jti": b64(os.urandom(16)), "htm": "GET", "htu": htu, "iat": iat, "ath": ath}
            signing_input = f"{header}.{b64(compact(claims).encode())}"
            r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), algorithm))
            signature = b64(r.to_bytes(P256_BYTES, "big") + s.to_bytes(P256_BYTES, "big"))
            out.write(f"{signing_input}.{signature}\n")


def main(argv):
    if len(argv) == 3 and argv[1] == "key":
        write_key(argv[2])
    elif len(argv) == 7 and argv[1] == "proofs":
        write_proofs(argv[2], argv[3], int(argv[4]), argv[5], argv[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
