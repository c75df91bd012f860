// Who is signed in on this browser: the API's bearer token and the user it names, kept in
// localStorage so a reload or a second tab stays signed in; signing out forgets both (and tells
// the API, which kills the token at once on every node).
export interface Me {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'moderator' | 'speaker' | 'attendee';
}

const TOKEN = 'onair.token';
const USER = 'onair.user';

export function readToken(): string | null {
  return localStorage.getItem(TOKEN);
}

export function readMe(): Me | null {
  const raw = localStorage.getItem(USER);
  if (!raw || !readToken()) return null;
  try {
    return JSON.parse(raw) as Me;
  } catch {
    return null;
  }
}

export function saveSession(token: string, me: Me): void {
  localStorage.setItem(TOKEN, token);
  localStorage.setItem(USER, JSON.stringify(me));
}

export function clearToken(): void {
  localStorage.removeItem(TOKEN);
  localStorage.removeItem(USER);
}
