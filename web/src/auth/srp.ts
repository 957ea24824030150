/**
 * Cognito's SRP-6a (USER_SRP_AUTH): the password never leaves the page; the page proves it
 * knows it. Big-integer arithmetic with BigInt, SHA-256, HMAC and HKDF through WebCrypto.
 *
 * The conventions are Cognito's (those of its own SDK): the 3072-bit group of RFC 5054 with
 * g = 2; hex numbers padded to whole bytes with a leading 00 when the top bit is set;
 * k = H(N | g); u = H(A | B); x = H(salt | H(poolName | userId | ":" | password)); the
 * shared secret S = (B - k·g^x)^(a + u·x) mod N; a 16-byte key from HKDF(ikm = S,
 * salt = u, info = "Caldera Derived Key"); the claim is HMAC(key, poolName | userId |
 * SECRET_BLOCK | timestamp). src/test/fixtures/srp_reference.py computes the same claims from
 * the server's side (S = (A·v^u)^b) and srp.test.ts checks this module against it.
 */

/** RFC 5054's 3072-bit prime (also RFC 3526 group 15). */
export const N = BigInt(
  "0xffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7edee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3be39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa051015728e5a8aaac42dad33170d04507a33a85521abdf1cba64ecfb850458dbef0a8aea71575d060c7db3970f85a6e1e4c7abf5ae8cdb0933d71e8c94e04a25619dcee3d2261ad2ee6bf12ffa06d98a0864d87602733ec86a64521f2b18177b200cbbe117577a615d6c770988c0bad946e208e24fa074e5ab3143db5bfce0fd108e4b82d120a93ad2caffffffffffffffff",
);
export const G = 2n;
const INFO = new TextEncoder().encode("Caldera Derived Key");

/** base^exponent mod modulus by square-and-multiply (BigInt has no modPow). */
export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = ((base % modulus) + modulus) % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/** Cognito's hex form: even length, and a leading 00 when the first byte's top bit is set. */
export function padHex(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return /^[89a-f]/.test(hex) ? `00${hex}` : hex;
}

export function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Standard or URL-safe base64, padding optional; characters outside the alphabet skipped. */
export function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  const clean = text.replace(/-/g, "+").replace(/_/g, "/").replace(/[^A-Za-z0-9+/]/g, "");
  const usable = clean.slice(0, clean.length - (clean.length % 4 === 1 ? 1 : 0));
  const binary = atob(usable + "=".repeat((4 - (usable.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function bytesToBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

async function hmacSha256(key: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, data));
}

/** H over the bytes a hex string stands for, as a number. */
async function hashHex(hex: string): Promise<bigint> {
  return BigInt(`0x${bytesToHex(await sha256(hexToBytes(hex)))}`);
}

let kValue: Promise<bigint> | null = null;
/** The SRP-6a multiplier k = H(N | g), computed once. */
export function multiplierK(): Promise<bigint> {
  kValue ??= hashHex(padHex(N) + padHex(G));
  return kValue;
}

/** Cognito's TIMESTAMP: "Sun Dec 6 03:04:05 UTC 2026" (English names, day unpadded, UTC). */
export function cognitoTimestamp(date: Date): string {
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][date.getUTCDay()];
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][date.getUTCMonth()];
  const two = (n: number) => String(n).padStart(2, "0");
  const time = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
  return `${day} ${month} ${date.getUTCDate()} ${time} UTC ${date.getUTCFullYear()}`;
}

/** The client's ephemeral pair: a secret a (1024 random bits) and the public A = g^a mod N. */
export interface Ephemeral {
  smallA: bigint;
  largeA: bigint;
}

export function newEphemeral(random: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): Ephemeral {
  for (;;) {
    const smallA = BigInt(`0x${bytesToHex(random(128))}`) % N;
    const largeA = modPow(G, smallA, N);
    if (smallA !== 0n && largeA % N !== 0n) return { smallA, largeA };
  }
}

/** What Cognito's PASSWORD_VERIFIER challenge sends (ChallengeParameters). */
export interface VerifierChallenge {
  salt: string; // hex
  srpB: string; // hex
  secretBlock: string; // base64, echoed back
  userIdForSrp: string;
}

export class SrpError extends Error {}

/** PASSWORD_CLAIM_SIGNATURE for the challenge: base64 HMAC-SHA256 under the SRP session key. */
export async function passwordClaimSignature(args: {
  userPoolId: string;
  password: string;
  ephemeral: Ephemeral;
  challenge: VerifierChallenge;
  timestamp: string;
}): Promise<string> {
  const { userPoolId, password, ephemeral, challenge, timestamp } = args;
  const poolName = userPoolId.split("_")[1] ?? "";
  const text = new TextEncoder();
  const B = BigInt(`0x${challenge.srpB}`);
  if (B % N === 0n) throw new SrpError("The sign-in service sent an invalid SRP value (B mod N = 0).");
  const u = await hashHex(padHex(ephemeral.largeA) + padHex(B));
  if (u === 0n) throw new SrpError("The sign-in service sent an invalid SRP value (u = 0).");
  const inner = bytesToHex(await sha256(text.encode(`${poolName}${challenge.userIdForSrp}:${password}`)));
  const x = await hashHex(padHex(BigInt(`0x${challenge.salt}`)) + inner);
  const k = await multiplierK();
  const base = (((B - ((k * modPow(G, x, N)) % N)) % N) + N) % N;
  const S = modPow(base, ephemeral.smallA + u * x, N);
  const prk = await hmacSha256(hexToBytes(padHex(u)), hexToBytes(padHex(S)));
  const key = (await hmacSha256(prk, concat(INFO, new Uint8Array([1])))).slice(0, 16);
  const message = concat(
    text.encode(poolName),
    text.encode(challenge.userIdForSrp),
    base64ToBytes(challenge.secretBlock),
    text.encode(timestamp),
  );
  return bytesToBase64(await hmacSha256(key, message));
}
