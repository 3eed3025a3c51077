"""Benchmark peer for scripts/compare: the FastAPI JWT example the samples are modelled on.

This is the example's code (FastAPI, python-jose, RS256 against a JWKS, the key set in a
``TTLCache(maxsize=10, ttl=600)``, no cache of verified tokens), kept as it is except where
it does not run as published:

1. ``auth: HTTPBearer = Depends()`` makes FastAPI build an ``HTTPBearer`` object instead of
   calling one, so ``auth.credentials`` raises ``AttributeError`` (a 500 on every request).
   Fixed as FastAPI documents it: ``Depends(HTTPBearer())`` yielding
   ``HTTPAuthorizationCredentials``.
2. ``jwt.algorithms.RSAAlgorithm.from_jwk`` is PyJWT's API; python-jose has no
   ``jwt.algorithms``. python-jose's ``jwt.decode`` takes the JWK dict itself, so
   ``get_key`` returns the matching JWK.
3. ``ISSUER`` and ``JWKS_URL`` come from ``AUTH_ISSUER`` and ``AUTH_JWKS_URL`` instead of
   being hard-coded, so the peer verifies tokens minted by a sample's development issuer.

Added so that every benchmark cell exists: ``/public`` (no dependency) and ``/admin`` (the
same dependency plus a check of the ``roles`` claim, 403 without ``admin``).

Run it with ``python fastapi_app.py``: it binds ``HOST``:``PORT`` (``PORT=0`` picks a free
port), prints ``listening on http://HOST:PORT`` like the samples, and serves the app with
uvicorn (one process, access log off).
"""

import os
import socket
import sys

import requests
import uvicorn
from cachetools import TTLCache
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import jwt
from jose.exceptions import ExpiredSignatureError, JWTError

app = FastAPI()

ISSUER = os.environ.get("AUTH_ISSUER", "https://my-api-a32f34.zuplo.api/__zuplo/issuer")
JWKS_URL = os.environ.get("AUTH_JWKS_URL", f"{ISSUER}/.well-known/jwks.json")
ALGORITHMS = ["RS256"]

# Cache for JWKS keys
jwks_cache = TTLCache(maxsize=10, ttl=600)


def get_jwks():
    if JWKS_URL not in jwks_cache:
        response = requests.get(JWKS_URL)
        response.raise_for_status()
        jwks_cache[JWKS_URL] = response.json()
    return jwks_cache[JWKS_URL]


def get_key(token):
    unverified_header = jwt.get_unverified_header(token)
    jwks = get_jwks()
    for jwk in jwks["keys"]:
        if jwk["kid"] == unverified_header["kid"]:
            # Fix 2: python-jose verifies against the JWK dict directly.
            return jwk
    raise JWTError("Unable to find appropriate key")


# Fix 1: the bearer scheme is called as a dependency and yields the credentials.
def validate_jwt(auth: HTTPAuthorizationCredentials = Depends(HTTPBearer())):
    token = auth.credentials
    try:
        key = get_key(token)
        payload = jwt.decode(token, key, algorithms=ALGORITHMS, issuer=ISSUER)
        return payload
    except ExpiredSignatureError:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Token has expired",
        )
    except JWTError:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Invalid token",
        )


@app.get("/public")
async def public_route():
    return {"message": "Anyone can see this"}


@app.get("/protected")
async def protected_route(user: dict = Depends(validate_jwt)):
    return {"message": "Access granted", "user": user}


@app.get("/admin")
async def admin_route(user: dict = Depends(validate_jwt)):
    if "admin" not in (user.get("roles") or []):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="Admin role required",
        )
    return {"message": "Admin access", "user": user}


def main():
    """Binds the socket first so that ``PORT=0`` works, announces it, then serves."""
    host = os.environ.get("HOST") or "127.0.0.1"
    try:
        port = int(os.environ.get("PORT") or "0")
    except ValueError:
        sys.exit("error: PORT: not a valid port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    print(f"listening on http://{shown}:{bound_port}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
