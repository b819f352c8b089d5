"use client";

import { useState, type FormEvent } from "react";

import { ErrorMessage, Loading, NotAllowed } from "@/components/states";
import { Tile } from "@/components/tile";
import { api, json, type Role, type User } from "@/lib/api";
import { useRequireUser } from "@/lib/auth";
import type { Overview, Page } from "@/lib/types";
import { useResource } from "@/lib/useResource";

const ROLES: Role[] = ["viewer", "presenter", "admin"];

export default function AdminPage() {
  const { user, allowed } = useRequireUser(["admin"]);
  const overview = useResource(() => api<Overview>("analytics/overview"), [], allowed, 10_000);
  const users = useResource(() => api<Page<User>>("users?limit=100"), [], allowed);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);

  if (!user) return <Loading what="your session" />;
  if (!allowed) return <NotAllowed />;

  async function act(what: () => Promise<unknown>, done: string) {
    setError(null);
    setMessage(null);
    try {
      await what();
      setMessage(done);
      users.reload();
      overview.reload();
    } catch (reason) {
      setError(reason);
    }
  }

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const email = String(form.get("email")).trim();
    await act(async () => {
      await api("users", json("POST", {
        email,
        username: String(form.get("username")).trim(),
        password: String(form.get("password")),
        role: String(form.get("role")),
      }));
      formElement.reset();
    }, `Created ${email}.`);
  }

  const o = overview.data;
  return (
    <section>
      <h1>Admin</h1>
      <h2 id="overview">Platform</h2>
      {overview.error ? (
        <ErrorMessage error={overview.error} retry={overview.reload} />
      ) : !o ? (
        <Loading what="the overview" />
      ) : (
        <div className="tiles" role="group" aria-labelledby="overview">
          {[
            ["Users", Object.values(o.users_by_role).reduce((a, b) => a + b, 0)],
            ["Presenters", o.users_by_role.presenter ?? 0],
            ["Decks", `${o.active_presentations} active of ${o.presentations}`],
            ["Sessions", `${o.sessions} (${o.active_sessions} now)`],
            ["Events", o.events],
            ["Feedback", o.mean_rating === null ? String(o.feedback) : `${o.feedback} · mean ${o.mean_rating.toFixed(1)}`],
          ].map(([label, value]) => (
            <Tile key={String(label)} label={String(label)} value={String(value)} />
          ))}
        </div>
      )}
      {message && <p role="status" className="card success">{message}</p>}
      {error ? <ErrorMessage error={error} /> : null}
      <form className="card" onSubmit={create} aria-labelledby="new-user">
        <h2 id="new-user">New user</h2>
        <div className="form-grid">
          <label htmlFor="new-email">Email</label>
          <input id="new-email" name="email" type="email" required autoComplete="off" />
          <label htmlFor="new-username">Username</label>
          <input id="new-username" name="username" required maxLength={64} autoComplete="off" />
          <label htmlFor="new-password">Password</label>
          <input id="new-password" name="password" type="password" required minLength={12} autoComplete="new-password" aria-describedby="password-help" />
          <label htmlFor="new-role">Role</label>
          <select id="new-role" name="role" defaultValue="viewer">
            {ROLES.map((role) => (
              <option key={role}>{role}</option>
            ))}
          </select>
        </div>
        <p id="password-help" className="muted">At least 12 characters; the service checks the rest of its rules.</p>
        <button type="submit">Create user</button>
      </form>
      {users.error ? (
        <ErrorMessage error={users.error} retry={users.reload} />
      ) : !users.data ? (
        <Loading what="users" />
      ) : (
        <div className="table-wrap">
          <table>
            <caption>Users</caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Username</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.data.data.map((row) => (
                <tr key={row.id}>
                  <th scope="row">{row.email}</th>
                  <td>{row.username}</td>
                  <td>
                    <select
                      aria-label={`Role for ${row.email}`}
                      value={row.role}
                      disabled={row.id === user.id}
                      onChange={(event) =>
                        void act(() => api(`users/${row.id}`, json("PATCH", { role: event.target.value })), `${row.email} is now ${event.target.value}.`)
                      }
                    >
                      {ROLES.map((role) => (
                        <option key={role}>{role}</option>
                      ))}
                    </select>
                  </td>
                  <td>{row.is_active ? "active" : "deactivated"}</td>
                  <td>
                    <button
                      type="button"
                      disabled={!row.is_active || row.id === user.id}
                      onClick={() => void act(() => api(`users/${row.id}`, { method: "DELETE" }), `Deactivated ${row.email}.`)}
                    >
                      Deactivate {row.email}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
