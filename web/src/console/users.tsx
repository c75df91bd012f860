// The console's users (admins): search by name or e-mail, change a role, and import a CSV
// (`email,name,role`) with its per-row report and each new person's set-password link — the token
// in the link's #fragment, so it never reaches a server log or a Referer.
import { useRef, useState } from 'preact/hooks';
import { action, usePolling } from '../actions.js';
import { api, ApiError } from '../api.js';
import { readToken } from '../session.js';

interface User {
  id: string;
  name: string;
  email: string;
  role: 'admin' | 'moderator' | 'speaker' | 'attendee';
}
interface ImportReport {
  created: number;
  skipped: number;
  failed: number;
  results: { line: number; email: string; status: string; reason?: string; setPasswordToken?: string }[];
}
const ROLES = ['attendee', 'speaker', 'moderator', 'admin'] as const;

export function Users() {
  const [q, setQ] = useState('');
  const [users, setUsers] = useState<User[]>([]);
  const [report, setReport] = useState<ImportReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  // answers may come back out of order while someone types: only the latest search shows
  const latest = useRef(0);
  const search = async () => {
    const mine = ++latest.current;
    const r = await api<{ items: User[] }>('GET', `/users?limit=50${q ? `&q=${encodeURIComponent(q)}` : ''}`);
    if (mine === latest.current) setUsers(r.items);
  };
  const act = action(setError, search);
  usePolling(() => act(search)(), 60_000, [q]);

  async function importCsv(file: File) {
    setError(null);
    setReport(null);
    // CSV goes as it is (text/csv); the API reads, checks and reports every row
    const res = await fetch('/api/users/import', { method: 'POST', headers: { 'content-type': 'text/csv', authorization: `Bearer ${readToken() ?? ''}` }, body: await file.text() });
    const body = await res.json().catch(() => null);
    if (!res.ok) return setError((body as { detail?: string } | null)?.detail ?? `The import was refused (${res.status}).`);
    setReport(body as ImportReport);
    await search();
  }

  return (
    <main>
      <h1>Users</h1>
      <label class="inline">
        Search
        <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="name or e-mail" />
      </label>
      {error && <p role="alert" class="error">{error}</p>}
      <table aria-label="Users">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">E-mail</th>
            <th scope="col">Role</th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>{u.email}</td>
              <td>
                <select aria-label={`Role of ${u.name}`} value={u.role} onChange={(e) => void act(() => api('PATCH', `/users/${u.id}/role`, { role: e.currentTarget.value }))()}>
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <section class="panel" aria-label="Import users">
        <h2>Import users</h2>
        <p class="muted">A CSV file with the columns email,name,role (up to 20,000 rows). Importing again creates nobody twice.</p>
        <label>
          CSV file
          <input type="file" accept=".csv,text/csv" onChange={(e) => e.currentTarget.files?.[0] && void importCsv(e.currentTarget.files[0]).catch((err) => setError(err instanceof ApiError ? err.words : 'The import failed.'))} />
        </label>
        {report && (
          <>
            <p role="status">
              {report.created} created · {report.skipped} skipped · {report.failed} failed
            </p>
            <table aria-label="Import report">
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">E-mail</th>
                  <th scope="col">Result</th>
                  <th scope="col">Set-password link</th>
                </tr>
              </thead>
              <tbody>
                {report.results.map((r) => (
                  <tr key={r.line}>
                    <td>{r.line}</td>
                    <td>{r.email}</td>
                    <td>
                      {r.status}
                      {r.reason ? `: ${r.reason}` : ''}
                    </td>
                    <td>{r.setPasswordToken && <input readOnly aria-label={`Set-password link for ${r.email}`} value={`${location.origin}/set-password#token=${r.setPasswordToken}`} onFocus={(e) => e.currentTarget.select()} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    </main>
  );
}
