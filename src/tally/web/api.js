// Talking to Tally: the key lives in this tab's sessionStorage only and travels as a bearer
// token. A 401 anywhere becomes a SignedOut error so the page can ask for a key again.

const STORE = "tally.key";

export class SignedOut extends Error {}

export class Refused extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

export const key = {
  get: () => sessionStorage.getItem(STORE),
  set: (value) => sessionStorage.setItem(STORE, value),
  clear: () => sessionStorage.removeItem(STORE),
};

// Any request with the key; returns {status, body, ms}. Only a 401 throws (SignedOut), so the
// formats tab can still show a profile's own error body.
export async function send(method, url, { headers = {}, body } = {}) {
  const sent = { ...headers, Authorization: `Bearer ${key.get()}` };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  const started = performance.now();
  const response = await fetch(url, {
    method,
    headers: sent,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* a non-JSON answer is shown as text */ }
  if (response.status === 401) {
    key.clear();
    throw new SignedOut(parsed?.error?.message || "the key was refused");
  }
  return { status: response.status, body: parsed, ms: performance.now() - started };
}

// A native call that must succeed: anything but a 2xx is a Refused error with its details.
export async function native(method, url, body) {
  const answer = await send(method, url, { body });
  if (answer.status >= 300) throw new Refused(answer.status, answer.body);
  return answer.body;
}
