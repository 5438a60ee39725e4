/** The header's right side: the organisation switcher and the account (sign in / out). */
import { useAuth, useCapabilities } from "../app/context";

export function OrgSwitcher() {
  const auth = useAuth();
  if (auth.status !== "signed-in" || auth.memberships.length === 0) return null;
  return (
    <label className="org-switcher" title="The organisation you act in: what you see and save belongs to it">
      <span className="visually-hidden">Organisation</span>
      <select value={auth.orgId ?? ""} onChange={(e) => auth.selectOrg(e.target.value)} data-testid="org-switcher">
        {auth.memberships.map((m) => (
          <option key={m.org_id} value={m.org_id}>
            {m.is_personal ? `${m.name} (personal)` : m.name} · {m.role}
          </option>
        ))}
      </select>
    </label>
  );
}

export function AccountBar() {
  const auth = useAuth();
  const capabilities = useCapabilities();
  const accounts = capabilities?.has("post", "/auth/login") ?? true;
  if (!accounts) return <span className="account muted">Accounts are not available on this server</span>;
  if (auth.status === "signed-in") {
    return (
      <div className="account">
        <OrgSwitcher />
        <span className="user" data-testid="user-email">
          {auth.user?.name || auth.user?.email || "…"}
        </span>
        <button onClick={() => void auth.signOut()}>Sign out</button>
      </div>
    );
  }
  return (
    <div className="account">
      {auth.status === "expired" ? <span className="muted">Session ended</span> : null}
      <button className="primary" onClick={() => auth.openDialog("sign-in")}>
        Sign in
      </button>
      <button onClick={() => auth.openDialog("register")}>Register</button>
    </div>
  );
}
