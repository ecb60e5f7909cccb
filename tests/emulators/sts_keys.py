"""sts_keys.py - the temporary credentials sts_emulator.py issues, and how s3_emulator.py
checks them without talking to it: both know a seed (--sts-seed); the secret is derived
from the access key id, and the session token carries the key id and the expiry, sealed
with the seed."""
import base64
import hashlib
import hmac


def _mac(seed, text):
    return hmac.new(seed.encode(), text.encode(), hashlib.sha256).digest()


def secret_for(seed, akid):
    """The secret access key of a key id STS issued."""
    return base64.b64encode(_mac(seed, "secret:" + akid)).decode()[:40]


def session_token(seed, akid, expires):
    """An opaque session token naming akid and its expiry (unix seconds)."""
    body = "%s:%d" % (akid, expires)
    seal = base64.urlsafe_b64encode(_mac(seed, "token:" + body)).decode()
    return "FQoGZXIvYXdzE" + base64.b64encode(("%s:%s" % (body, seal)).encode()).decode()


def check_token(seed, akid, token):
    """The expiry (unix seconds) of token when it was issued with akid, else "invalid"."""
    if not token or not token.startswith("FQoGZXIvYXdzE"):
        return "invalid"
    try:
        raw = base64.b64decode(token[len("FQoGZXIvYXdzE"):], validate=True).decode()
        tok_akid, exp, seal = raw.split(":")
        want = base64.urlsafe_b64encode(_mac(seed, "token:%s:%s" % (tok_akid, exp))).decode()
    except ValueError:
        return "invalid"
    if tok_akid != akid or not hmac.compare_digest(seal, want):
        return "invalid"
    return int(exp)
