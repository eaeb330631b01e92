"""Fake credentials in the exact shapes that secret scanners look for; none of them opens anything.

Shapes follow the issuers' published formats: AWS access key IDs (AKIA + 16 base32 characters), GitHub
classic tokens (ghp_ + 30 base62 characters + a 6-character base62 CRC32, per GitHub's 2021 token format
post), Slack bot tokens (xoxb-<team>-<bot>-<24 characters>) and PEM "RSA PRIVATE KEY" blocks (RFC 7468).
"""

from __future__ import annotations

import base64
import random
import string
import zlib

_BASE32 = string.ascii_uppercase + "234567"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ALNUM = string.ascii_letters + string.digits
_SECRET_KEY_CHARS = _ALNUM + "/+"
# A 2048-bit PKCS#1 key's DER always starts with these bytes, so the block looks right at a glance.
_PKCS1_2048_PREFIX = "MIIEpAIBAAKCAQEA"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def aws_access_key_id(rng: random.Random) -> str:
    return "AKIA" + _pick(rng, _BASE32, 16)


def aws_secret_access_key(rng: random.Random) -> str:
    return _pick(rng, _SECRET_KEY_CHARS, 40)


def github_token(rng: random.Random) -> str:
    body = _pick(rng, _ALNUM, 30)
    checksum = zlib.crc32(body.encode())
    digits = ""
    while checksum:
        checksum, digit = divmod(checksum, 62)
        digits = _BASE62[digit] + digits
    return f"ghp_{body}{digits.rjust(6, '0')}"


def slack_bot_token(rng: random.Random) -> str:
    return f"xoxb-{_pick(rng, string.digits, 12)}-{_pick(rng, string.digits, 13)}-{_pick(rng, _ALNUM, 24)}"


def password(rng: random.Random) -> str:
    return _pick(rng, _ALNUM, 12) + rng.choice("!#%&*?@") + _pick(rng, string.digits, 3)


def rsa_private_key(rng: random.Random) -> str:
    body = _PKCS1_2048_PREFIX + base64.b64encode(rng.randbytes(1180)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----"])
