import { describe, expect, it } from "vitest";
import { clientAddress } from "./client-address";

describe("clientAddress", () => {
  it("is the socket's address when no proxy header is configured, whatever the client sends", () => {
    expect(clientAddress({ "x-forwarded-for": "1.2.3.4" }, "::ffff:127.0.0.1", null)).toBe("127.0.0.1");
    expect(clientAddress({}, "::1", null)).toBe("::1");
  });

  it("takes the last entry of the configured header, the one the proxy added", () => {
    expect(clientAddress({ "x-forwarded-for": "6.6.6.6, 10.0.0.7" }, "10.0.0.1", "X-Forwarded-For")).toBe("10.0.0.7");
    expect(clientAddress({ "x-real-ip": "203.0.113.9" }, "10.0.0.1", "x-real-ip")).toBe("203.0.113.9");
    expect(clientAddress({ "x-forwarded-for": ["6.6.6.6", "10.0.0.8"] }, "10.0.0.1", "x-forwarded-for")).toBe("10.0.0.8");
  });

  it("falls back to the socket when the configured header is missing or empty", () => {
    expect(clientAddress({}, "10.0.0.1", "x-forwarded-for")).toBe("10.0.0.1");
    expect(clientAddress({ "x-forwarded-for": " , " }, "10.0.0.1", "x-forwarded-for")).toBe("10.0.0.1");
  });
});
