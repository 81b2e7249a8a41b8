import { describe, expect, it } from "vitest";
import { frontConfig } from "./config";
import { FRONT_DEFAULTS } from "./server/front";

describe("frontConfig", () => {
  it("defaults to the front server's limits and the socket's address", () => {
    expect(frontConfig({})).toEqual(FRONT_DEFAULTS);
  });

  it("reads limits as BURST/PER_SECOND or off, and a proxy's address header", () => {
    expect(frontConfig({ PENUMBRA_READ_LIMIT: "10/2", PENUMBRA_WRITE_LIMIT: "off", PENUMBRA_CLIENT_ADDRESS_HEADER: "X-Forwarded-For" })).toMatchObject({
      reads: { burst: 10, perSecond: 2 },
      writes: null,
      clientHeader: "x-forwarded-for",
    });
  });

  it("refuses a bad value with a configuration fault that names the variable, not the value", () => {
    for (const env of [{ PENUMBRA_READ_LIMIT: "lots" }, { PENUMBRA_CLIENT_ADDRESS_HEADER: "x forwarded" }]) {
      const [variable] = Object.keys(env);
      expect(() => frontConfig(env)).toThrow(expect.objectContaining({ code: "configuration", message: expect.stringContaining(variable) }));
    }
  });
});
