"""Cognito's SRP-6a (USER_SRP_AUTH) for the CLI: the password never leaves this process.

boto3 has no SRP helper, so this is the client's side as Cognito's own SDKs do it (and as
the web page's src/auth/srp.ts does; both are checked against the same reference vectors,
web/src/test/fixtures/srp_vectors.json):

- N is the 3072-bit MODP prime of RFC 3526, g = 2, k = H(N | g), H = SHA-256 over bytes
  written as unsigned big-endian hex padded to whole bytes (a leading 00 when the top bit is set);
- the client sends A = g^a; Cognito answers SALT, SRP_B, SECRET_BLOCK and USER_ID_FOR_SRP;
- x = H(salt | H(poolName | userId | ":" | password)), u = H(A | B),
  S = (B - k * g^x) ^ (a + u * x) mod N;
- the key is HKDF-SHA256(ikm = S, salt = u, info = "Caldera Derived Key") cut to 16 bytes,
  and the claim is HMAC-SHA256(key, poolName | userId | SECRET_BLOCK bytes | timestamp).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

N = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
G = 2
_INFO = b"Caldera Derived Key"


def pad_hex(value: int) -> str:
    """Unsigned big-endian hex of whole bytes, with a leading 00 when the top bit is set."""
    text = format(value, "x")
    if len(text) % 2:
        text = "0" + text
    return "00" + text if text[0] in "89abcdef" else text


def _hex_hash(hex_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest()


K = int(_hex_hash(pad_hex(N) + pad_hex(G)), 16)


def cognito_timestamp(when: datetime) -> str:
    """Cognito's format: English names, day of month unpadded, always UTC ('Sun Dec 6 03:04:05 UTC 2026')."""
    when = when.astimezone(UTC)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{days[when.weekday()]} {months[when.month - 1]} {when.day} {when:%H:%M:%S} UTC {when.year}"


class SrpError(ValueError):
    """Cognito's challenge cannot be answered (a B that is 0 mod N, a u of 0)."""


@dataclass(frozen=True)
class PasswordClaim:
    """The PASSWORD_VERIFIER answer's fields (ChallengeResponses, besides USERNAME)."""

    secret_block: str
    signature: str
    timestamp: str


class SrpSession:
    """One sign-in's ephemeral pair: a secret `a` and the public A = g^a mod N."""

    def __init__(self, pool_id: str, small_a: int | None = None) -> None:
        if "_" not in pool_id:
            raise SrpError(f"not a user pool id: {pool_id!r} (expected region_name)")
        self.pool_name = pool_id.split("_", 1)[1]
        self._a = small_a if small_a is not None else secrets.randbits(1024)
        self.large_a = pow(G, self._a, N)
        if self.large_a % N == 0:
            raise SrpError("A is 0 mod N; pick another a")

    @property
    def large_a_hex(self) -> str:
        """SRP_A as InitiateAuth takes it."""
        return format(self.large_a, "x")

    def claim(
        self, *, user_id: str, password: str, salt_hex: str, srp_b_hex: str, secret_block: str, when: datetime
    ) -> PasswordClaim:
        big_b = int(srp_b_hex, 16)
        if big_b % N == 0:
            raise SrpError("Cognito sent B = 0 mod N")
        u = int(_hex_hash(pad_hex(self.large_a) + pad_hex(big_b)), 16)
        if u == 0:
            raise SrpError("u is 0")
        inner = hashlib.sha256(f"{self.pool_name}{user_id}:{password}".encode()).hexdigest()
        x = int(_hex_hash(pad_hex(int(salt_hex, 16)) + inner), 16)
        s = pow((big_b - K * pow(G, x, N)) % N, self._a + u * x, N)
        prk = hmac.new(bytes.fromhex(pad_hex(u)), bytes.fromhex(pad_hex(s)), hashlib.sha256).digest()
        key = hmac.new(prk, _INFO + b"\x01", hashlib.sha256).digest()[:16]
        timestamp = cognito_timestamp(when)
        message = self.pool_name.encode() + user_id.encode() + _block_bytes(secret_block) + timestamp.encode()
        signature = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        return PasswordClaim(secret_block=secret_block, signature=signature, timestamp=timestamp)


def _block_bytes(secret_block: str) -> bytes:
    # Cognito's SECRET_BLOCK is base64; the local stack's moto sends a UUID, which it never checks.
    try:
        return base64.b64decode(secret_block, validate=True)
    except binascii.Error:
        return secret_block.encode()
