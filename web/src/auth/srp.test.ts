// @vitest-environment node
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { base64ToBytes, cognitoTimestamp, hexToBytes, modPow, multiplierK, N, newEphemeral, padHex, passwordClaimSignature } from "./srp";

interface Vector {
  userPoolId: string;
  userIdForSrp: string;
  password: string;
  smallA: string;
  largeA: string;
  salt: string;
  srpB: string;
  secretBlock: string;
  date: string;
  timestamp: string;
  k: string;
  u: string;
  signature: string;
}

// Made by srp_reference.py, which computes the shared secret from the server's side.
const REFERENCE = JSON.parse(readFileSync(new URL("../test/fixtures/srp_vectors.json", import.meta.url), "utf8")) as {
  N: string;
  g: number;
  vectors: Vector[];
};

describe("SRP arithmetic", () => {
  it("uses the group the reference derived from its definition", async () => {
    expect(N).toBe(BigInt(`0x${REFERENCE.N}`));
    expect(N.toString(2)).toHaveLength(3072);
    expect((await multiplierK()).toString(16)).toBe(REFERENCE.vectors[0]?.k);
  });

  it("pads hex as Cognito does", () => {
    expect(padHex(0x7fn)).toBe("7f");
    expect(padHex(0x80n)).toBe("0080");
    expect(padHex(0xabcn)).toBe("0abc");
    expect(padHex(0xfabcn)).toBe("00fabc");
    expect(padHex(2n)).toBe("02");
  });

  it("computes modular powers", () => {
    expect(modPow(4n, 13n, 497n)).toBe(445n);
    expect(modPow(-3n, 3n, 7n)).toBe(1n); // (-27) mod 7
    expect(modPow(2n, N - 1n, N)).toBe(1n); // Fermat: N is prime
  });

  it("formats the timestamp like Cognito: English, day unpadded, UTC", () => {
    expect(cognitoTimestamp(new Date("2026-12-06T03:04:05Z"))).toBe("Sun Dec 6 03:04:05 UTC 2026");
    expect(cognitoTimestamp(new Date("2027-01-31T23:59:59Z"))).toBe("Sun Jan 31 23:59:59 UTC 2027");
  });

  it("decodes standard and URL-safe base64", () => {
    expect(Array.from(base64ToBytes("+/8="))).toEqual([0xfb, 0xff]);
    expect(Array.from(base64ToBytes("-_8"))).toEqual([0xfb, 0xff]);
    expect(Array.from(hexToBytes("00ff10"))).toEqual([0, 255, 16]);
  });

  it("draws a fresh secret a for each sign-in, with A = g^a mod N", () => {
    const first = newEphemeral();
    const second = newEphemeral();
    expect(first.smallA).not.toBe(second.smallA);
    expect(modPow(2n, first.smallA, N)).toBe(first.largeA);
  });
});

describe("SRP password claim against the server-side reference", () => {
  it.each(REFERENCE.vectors.map((v) => [v.userIdForSrp, v] as const))("matches for %s", async (_name, v) => {
    const smallA = BigInt(`0x${v.smallA}`);
    const ephemeral = { smallA, largeA: modPow(2n, smallA, N) };
    expect(ephemeral.largeA.toString(16)).toBe(v.largeA);
    expect(cognitoTimestamp(new Date(v.date))).toBe(v.timestamp);
    const signature = await passwordClaimSignature({
      userPoolId: v.userPoolId,
      password: v.password,
      ephemeral,
      challenge: { salt: v.salt, srpB: v.srpB, secretBlock: v.secretBlock, userIdForSrp: v.userIdForSrp },
      timestamp: v.timestamp,
    });
    expect(signature).toBe(v.signature);
  });

  it("gives a different claim for a wrong password", async () => {
    const v = REFERENCE.vectors[0] as Vector;
    const smallA = BigInt(`0x${v.smallA}`);
    const signature = await passwordClaimSignature({
      userPoolId: v.userPoolId,
      password: `${v.password}x`,
      ephemeral: { smallA, largeA: modPow(2n, smallA, N) },
      challenge: { salt: v.salt, srpB: v.srpB, secretBlock: v.secretBlock, userIdForSrp: v.userIdForSrp },
      timestamp: v.timestamp,
    });
    expect(signature).not.toBe(v.signature);
  });

  it("refuses a B that is a multiple of N", async () => {
    const v = REFERENCE.vectors[0] as Vector;
    await expect(
      passwordClaimSignature({
        userPoolId: v.userPoolId,
        password: v.password,
        ephemeral: newEphemeral(),
        challenge: { salt: v.salt, srpB: N.toString(16), secretBlock: v.secretBlock, userIdForSrp: v.userIdForSrp },
        timestamp: v.timestamp,
      }),
    ).rejects.toThrow(/invalid SRP value/);
  });
});
