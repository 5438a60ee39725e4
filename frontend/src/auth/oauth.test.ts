import { describe, expect, it, vi } from "vitest";
import { Session } from "../api/session";
import { consumeOAuthRedirect, tokenPairFromFragment } from "./oauth";

describe("OAuth redirect", () => {
  const hash = "#access_token=a.b.c&refresh_token=r-1&token_type=bearer&expires_in=900";

  it("reads the token pair the server puts in the fragment", () => {
    expect(tokenPairFromFragment(hash)).toEqual({ access_token: "a.b.c", refresh_token: "r-1", token_type: "bearer", expires_in: 900 });
    expect(tokenPairFromFragment("#layers")).toBeNull();
    expect(tokenPairFromFragment("#access_token=a&refresh_token=r&expires_in=soon")).toBeNull();
  });

  it("signs in and wipes the tokens from the address bar", () => {
    const session = new Session({ refresh: vi.fn() });
    const history = { replaceState: vi.fn() };
    expect(consumeOAuthRedirect(session, { hash, pathname: "/app/", search: "?x=1" }, history)).toBe(true);
    expect(session.status).toBe("signed-in");
    expect(session.refreshToken).toBe("r-1");
    expect(history.replaceState).toHaveBeenCalledWith(null, "", "/app/?x=1");
  });
});
