// Stages 10 to 13 with the JavaScript client: accounts with cookie sessions (log in,
// rooms per user and per session, log out), JSON Web Tokens in the handshake's `auth`,
// the defences of stage 12 (Origin, cookie flags, limits), and stage 13's two processes
// joined by Redis. Imported by check.mjs, which runs one scenario per stage and transport.
//
// The stages' contract (forms and JSON bodies, event names, refusal messages) is the
// one the grader's probes check; `book/src/10-login-logout.md`,
// `book/src/11-jwt-handshake.md`, `book/src/12-hardening.md` and
// `book/src/13-scale-out.md` document it.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { get, log, parseSetCookie, post, show } from './lib.mjs';

const SESSION_COOKIE = 'chat.sid';
const PASSWORD = 'correct horse battery';
/** The key the graded servers sign tokens with (js_client.rs passes the grader's). */
const JWT_SECRET = process.env.JWT_SECRET ?? '';

/** The `chat.sid` cookie a response set, as a `Cookie` header, or undefined. */
function sessionCookie(res) {
  const set = res.setCookies.map(parseSetCookie).find((c) => c.name === SESSION_COOKIE && c.value);
  return set ? `${SESSION_COOKIE}=${set.value}` : undefined;
}

/** Registers `username` with a form (stage 10) and returns the logged-in cookie. */
async function register(url, username) {
  const res = await post(url, '/register', { form: { username, password: PASSWORD } });
  assert.equal(res.status, 303, `POST /register as ${username} answered ${res.status} ${show(res.body)}, expected 303`);
  const cookie = sessionCookie(res);
  assert.ok(cookie, `POST /register as ${username} set no ${SESSION_COOKIE} cookie`);
  return cookie;
}

/** Logs `username` in with a form; the new session's cookie. */
async function login(url, username, password = PASSWORD) {
  const res = await post(url, '/login', { form: { username, password } });
  assert.equal(res.status, 303, `POST /login as ${username} answered ${res.status} ${show(res.body)}, expected 303`);
  const cookie = sessionCookie(res);
  assert.ok(cookie, `POST /login as ${username} set no ${SESSION_COOKIE} cookie`);
  return cookie;
}

/** `emitWithAck`, bounded; the ack's first argument. */
async function ask(c, event, ...args) {
  try {
    return await c.socket.timeout(5000).emitWithAck(event, ...args);
  } catch (err) {
    throw new Error(`${c.label}: no ack for \`${event}\` within 5 s (${err.message})`);
  }
}

/** Waits until `c` is disconnected by the server. */
function expectKicked(c) {
  return c.waitFor(
    () => `${c.label} to be disconnected by the server`,
    () => {
      if (!c.disconnectReason) return undefined;
      assert.equal(c.disconnectReason, 'io server disconnect', `${c.label} disconnected: ${c.disconnectReason}`);
      return true;
    },
  );
}

export async function loginLogout({ url, client, pass }) {
  const adaCookie = await register(url, 'ada');
  const graceCookie = await register(url, 'grace');
  const me = await get(url, '/me', { cookie: adaCookie });
  assert.equal(me.status, 200, `GET /me as ada answered ${me.status}`);
  const ada = JSON.parse(me.body);
  assert.equal(ada.username, 'ada', `GET /me as ada answered ${show(me.body)}`);
  pass('register-and-login');

  const wrong = await post(url, '/login', { form: { username: 'ada', password: 'not her password' } });
  const unknown = await post(url, '/login', { form: { username: 'nobody', password: PASSWORD } });
  assert.equal(wrong.status, 401, `a wrong password answered ${wrong.status}, expected 401`);
  assert.equal(unknown.status, 401, `an unknown user answered ${unknown.status}, expected 401`);
  assert.equal(wrong.body, unknown.body, 'a wrong password and an unknown user got different answers');
  pass('wrong-password-refused');

  const anonymous = await client('anonymous').expectRefused();
  pass(`anonymous-refused (${anonymous})`);

  // ada in two tabs of one session, and a third tab logged in separately.
  const secondCookie = await login(url, 'ada');
  assert.notEqual(secondCookie, adaCookie, 'a second login gave the same session cookie');
  const tab = (label, cookie) => client(label, { extraHeaders: { cookie } });
  const [tab1, tab2, tab3, grace] = [
    tab('ada-1', adaCookie),
    tab('ada-2', adaCookie),
    tab('ada-other-session', secondCookie),
    tab('grace', graceCookie),
  ];
  for (const c of [tab1, tab2, tab3, grace]) await c.connect();
  const whoami = await ask(tab1, 'whoami');
  assert.deepEqual(whoami, { id: ada.id, username: 'ada' }, `whoami answered ${show(whoami)}`);
  pass('whoami');

  const ack = await ask(grace, 'private message', { to: 'ada', text: 'hi ada' });
  assert.deepEqual(ack, { ok: true }, `private message answered ${show(ack)}`);
  for (const c of [tab1, tab2, tab3, grace]) await c.expectSome('private message', { from: 'grace', text: 'hi ada' });
  pass('reaches-every-tab');

  const online = await ask(grace, 'is online', 'ada');
  assert.deepEqual(online, { username: 'ada', online: true }, `is online answered ${show(online)}`);

  const out = await post(url, '/logout', { cookie: adaCookie });
  assert.equal(out.status, 303, `POST /logout answered ${out.status}, expected 303`);
  await Promise.all([expectKicked(tab1), expectKicked(tab2)]);
  const still = await ask(tab3, 'whoami');
  assert.equal(still?.username, 'ada', `the other session's tab answered whoami ${show(still)}`);
  log('the tab of ada\'s other session is still connected');
  const stale = await client('ada-old-cookie', { extraHeaders: { cookie: adaCookie } }).expectRefused();
  pass(`logout-disconnects-session (old cookie: ${stale})`);

  tab3.leave();
  const gone = await grace.waitFor(
    () => 'ada to be offline',
    () => (tab3.disconnectReason ? true : undefined),
  );
  assert.ok(gone);
  // The server notices the leave a moment after the client sends it.
  let offline;
  for (let i = 0; i < 20; i += 1) {
    offline = await ask(grace, 'is online', 'ada');
    if (offline?.online === false) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(offline, { username: 'ada', online: false }, `is online after ada left answered ${show(offline)}`);
  pass('is-online');
}

const base64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** An HS256 token with `claims`, signed with `key`. */
function sign(claims, key) {
  const unsigned = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url(claims)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

export async function jwtHandshake({ url, client, pass }) {
  const reg = await post(url, '/auth/register', { json: { username: 'ada', password: PASSWORD } });
  assert.equal(reg.status, 201, `POST /auth/register answered ${reg.status} ${show(reg.body)}, expected 201`);
  const registered = JSON.parse(reg.body);
  assert.equal(typeof registered.token, 'string', `POST /auth/register answered ${show(reg.body)}, expected a token`);
  const res = await post(url, '/auth/login', { json: { username: 'ada', password: PASSWORD } });
  assert.equal(res.status, 200, `POST /auth/login answered ${res.status} ${show(res.body)}, expected 200`);
  const { token, user } = JSON.parse(res.body);
  assert.equal(user?.username, 'ada', `POST /auth/login answered ${show(res.body)}`);
  const wrong = await post(url, '/auth/login', { json: { username: 'ada', password: 'not her password' } });
  const unknown = await post(url, '/auth/login', { json: { username: 'nobody', password: PASSWORD } });
  assert.equal(wrong.status, 401, `a wrong password answered ${wrong.status}`);
  assert.equal(wrong.body, unknown.body, 'a wrong password and an unknown user got different answers');
  pass('login-returns-token');

  const ada = client('ada', { auth: { token } });
  await ada.connect();
  const whoami = await ask(ada, 'whoami');
  assert.equal(whoami?.username, 'ada', `whoami answered ${show(whoami)}`);
  pass('token-connects');

  assert.ok(JWT_SECRET, 'JWT_SECRET is not set for this script');
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: user.id, username: 'ada', iat: now, exp: now + 3600 };
  const attacks = {
    'no token': undefined,
    garbage: { token: 'not-a-token' },
    expired: { token: sign({ ...claims, iat: now - 7200, exp: now - 3600 }, JWT_SECRET) },
    'wrong signature': { token: sign(claims, 'some-other-key-that-is-long-enough-0123456789') },
    'alg none': { token: `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.` },
  };
  // Every attack at once (each waits a moment for a late `connect`).
  const refusals = await Promise.all(
    Object.entries(attacks).map(async ([name, auth]) => [
      name,
      await client(name.replace(' ', '-'), auth ? { auth } : {}).expectRefused(),
    ]),
  );
  for (const [name, refusal] of refusals) {
    assert.equal(refusal, 'CONNECT_ERROR "Authentication error"', `${name}: refused with ${refusal}`);
  }
  pass('bad-tokens-refused');
}

/**
 * Stage 12: a same-origin client gets in with its cookie; the same cookie from a
 * foreign page's `Origin` is refused with HTTP 403 (over WebSocket, the client reports
 * "Unexpected server response: 403"; over polling, an xhr poll error of status 403).
 * Node sends no `Origin` of its own: `extraHeaders` plays the browser's part.
 */
export async function hardening({ url, client, pass }) {
  await register(url, 'ada');
  const res = await post(url, '/login', { form: { username: 'ada', password: PASSWORD } });
  assert.equal(res.status, 303, `POST /login as ada answered ${res.status}, expected 303`);
  const set = res.setCookies.map(parseSetCookie).find((c) => c.name === SESSION_COOKIE && c.value);
  assert.ok(set, `POST /login set no ${SESSION_COOKIE} cookie`);
  assert.ok(set.attributes.has('httponly'), `the session cookie is not HttpOnly: ${show(res.setCookies)}`);
  assert.match(set.attributes.get('samesite') ?? '', /^(lax|strict)$/i, `the session cookie's SameSite: ${show(res.setCookies)}`);
  pass('cookie-flags');
  const cookie = `${SESSION_COOKIE}=${set.value}`;

  const origin = new URL(url).origin;
  const own = client('ada-own-origin', { extraHeaders: { cookie, origin } });
  await own.connect();
  const whoami = await ask(own, 'whoami');
  assert.equal(whoami?.username, 'ada', `whoami answered ${show(whoami)}`);
  pass('same-origin-connects');

  const refusals = await Promise.all(
    ['https://evil.example', `${origin}.evil.example`].map((foreign) =>
      client(`mallory-${foreign}`, { extraHeaders: { cookie, origin: foreign } }).expectRefused(),
    ),
  );
  for (const refusal of refusals) assert.match(refusal, /^HTTP 403/, `a foreign origin was refused with ${refusal}`);
  pass(`foreign-origin-refused (${refusals[0]})`);

  const long = await ask(own, 'chat message', 'x'.repeat(5000));
  assert.equal(long?.ok, false, `a message of 5000 characters was answered ${show(long)}`);
  const fine = await ask(own, 'chat message', 'hello');
  assert.equal(fine, 'ok', `a short message was answered ${show(fine)}`);
  pass('long-message-refused');

  const statuses = [];
  let locked;
  for (let i = 0; i < 10 && !locked; i += 1) {
    const guess = await post(url, '/login', { form: { username: 'nobody', password: `guess ${i}` } });
    statuses.push(guess.status);
    if (guess.status === 429) locked = guess;
  }
  assert.ok(locked, `ten wrong logins were answered ${show(statuses)}, with no 429`);
  assert.match(locked.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/, 'the 429 has no Retry-After in seconds');
  pass(`login-throttled (${statuses.join(' ')})`);
}

/**
 * Stage 13: two processes of the server, A and B (`urls`), sharing MongoDB and Redis.
 * ada logs in through A and opens a socket on each with the same cookie; grace logs in
 * through B. A private message from grace (on B) reaches both of ada's sockets; `is
 * online` on A sees grace on B; a logout through A disconnects ada's socket on B too,
 * and not grace's; the old cookie is refused by B.
 */
export async function scaleOut({ urls, client, pass }) {
  assert.equal(urls.length, 2, `stage 13 needs two servers, URL_A,URL_B; got ${show(urls)}`);
  const [a, b] = urls;
  const adaCookie = await register(a, 'ada');
  const graceCookie = await register(b, 'grace');
  const adaOnA = client('ada-on-A', { extraHeaders: { cookie: adaCookie } }, a);
  const adaOnB = client('ada-on-B', { extraHeaders: { cookie: adaCookie } }, b);
  const graceOnB = client('grace-on-B', { extraHeaders: { cookie: graceCookie } }, b);
  for (const c of [adaOnA, adaOnB, graceOnB]) await c.connect();
  const whoami = await ask(adaOnB, 'whoami');
  assert.equal(whoami?.username, 'ada', `whoami on B with A's cookie answered ${show(whoami)}`);
  pass('cookie-from-A-accepted-by-B');

  const text = 'hi ada, from B';
  const ack = await ask(graceOnB, 'private message', { to: 'ada', text });
  assert.deepEqual(ack, { ok: true }, `private message answered ${show(ack)}`);
  for (const c of [adaOnA, adaOnB]) await c.expectSome('private message', { from: 'grace', text });
  pass('user-room-across-instances');

  const online = await ask(adaOnA, 'is online', 'grace');
  assert.deepEqual(online, { username: 'grace', online: true }, `is online on A about grace (on B) answered ${show(online)}`);
  pass('online-across-instances');

  const out = await post(a, '/logout', { cookie: adaCookie });
  assert.equal(out.status, 303, `POST /logout on A answered ${out.status}, expected 303`);
  await Promise.all([expectKicked(adaOnA), expectKicked(adaOnB)]);
  const still = await ask(graceOnB, 'whoami');
  assert.equal(still?.username, 'grace', `grace's socket on B answered whoami ${show(still)}`);
  const stale = await client('ada-old-cookie-on-B', { extraHeaders: { cookie: adaCookie } }, b).expectRefused();
  pass(`logout-disconnects-other-instance (old cookie on B: ${stale})`);
}
