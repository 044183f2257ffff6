import { describe, expect, it } from "vitest";
import { TokenResponse } from "../../agent/registry/auth.js";

describe("TokenResponse", () => {
  it("accepts GHCR's answer, which carries only token", () => {
    expect(TokenResponse.parse({ token: "djE6YWNtZS93ZWI6MTcwMDAwMDAwMDAwMA==" })).toEqual({ token: "djE6YWNtZS93ZWI6MTcwMDAwMDAwMDAwMA==" });
  });

  it("accepts Docker Hub's answer with token, access_token, expires_in and issued_at", () => {
    const hub = { token: "eyJhbGciOi.x.y", access_token: "eyJhbGciOi.x.y", expires_in: 300, issued_at: "2026-11-25T10:00:00.123456789Z" };
    expect(TokenResponse.parse(hub)).toEqual(hub);
  });

  it("accepts an OAuth2-style answer with only access_token", () => {
    expect(TokenResponse.parse({ access_token: "abc", expires_in: 60 })).toEqual({ access_token: "abc", expires_in: 60 });
  });

  it("rejects an answer without either token field", () => {
    const result = TokenResponse.safeParse({ expires_in: 300 });
    expect(result.error?.issues[0]?.message).toBe("has neither token nor access_token");
  });
});
