// Drives one stage's server with the JavaScript socket.io-client and checks what the
// grader's hints check, over one transport mode.
//
//   node check.mjs STAGE URL MODE
//     STAGE  03-socketio-setup | 04-user-count | 05-disconnect | 06-chat-messages
//            | 07-sessions | 08-socket-session-auth | 09-mongo-session-store
//            | 10-login-logout | 11-jwt-handshake | 12-hardening | 13-scale-out
//            (10 to 13 in accounts.mjs)
//     URL    the server, e.g. http://127.0.0.1:3000 (a fresh server: the counts start at 0);
//            for 13-scale-out, two servers sharing MongoDB and Redis, URL_A,URL_B
//     MODE   polling | websocket | upgrade
//
// Prints one summary line on stdout (`ok …` or `FAIL …`); on failure, a trace of every
// event on stderr. Exits 0 when every check passes, 1 when one fails, 2 on bad arguments.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hardening, jwtHandshake, loginLogout, scaleOut } from './accounts.mjs';
import { CLIENT_VERSION, Client, MODES, WAIT_MS, get, log, parseSetCookie, show, traceText } from './lib.mjs';

/** Stops everything after this long, whatever is still pending. */
const RUN_LIMIT_MS = 20_000;

/** The session cookie's name from stage 07 on (the stages' contract fixes it). */
const SESSION_COOKIE = 'chat.sid';
/** A session's display name: `adjective-animal-NN`, like `quiet-otter-42`. */
const SESSION_NAME = /^[a-z]+-[a-z]+-[1-9][0-9]$/;
/** Cookie names a session might travel under by mistake (tower-sessions' default first). */
const OTHER_COOKIE_NAMES = ['id', 'connect.sid', 'session'];
/** The name a stage-08 client claims in `auth`; the server must not believe it. */
const CLAIMED = 'mallory';

const STAGES = {
  // axum serves the page and its scripts; Socket.IO on the same port accepts "/".
  async '03-socketio-setup'({ url, mode, client, pass }) {
    const page = await get(url, '/');
    assert.equal(page.status, 200, `GET / answered ${page.status}, expected 200`);
    assert.match(page.type, /^text\/html/i, `GET / has content-type ${show(page.type)}, expected text/html`);
    const sources = [...page.body.matchAll(/<script\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]);
    assert.ok(
      sources.some((src) => /socket\.io(\.min)?\.js(\?|$)/.test(src)),
      `GET / has no <script src> for the Socket.IO client; its script sources: ${show(sources)}`,
    );
    pass('serves-page');
    const origin = new URL(url).origin;
    for (const src of sources) {
      const target = new URL(src, page.url);
      if (target.origin !== origin) continue;
      const script = await get(url, target.pathname + target.search);
      assert.equal(script.status, 200, `GET ${target.pathname} (a script of the page) answered ${script.status}`);
      assert.match(
        script.type,
        /javascript/i,
        `GET ${target.pathname} has content-type ${show(script.type)}, expected text/javascript`,
      );
      assert.ok(script.body.length > 0, `GET ${target.pathname} is empty`);
    }
    pass('serves-scripts');

    const a = client('A');
    await a.connect();
    if (mode === 'polling') pass('handshake-polling');
    pass({ polling: 'connects-polling', websocket: 'connects-websocket', upgrade: 'upgrades-to-websocket' }[mode]);
  },

  // A shared counter; every connection emits `user count` to everyone.
  async '04-user-count'({ client, pass }) {
    const a = client('A');
    await a.connect();
    await a.expectNext('user count', 1);
    pass('first-user-sees-one');
    const b = client('B');
    await b.connect();
    await a.expectNext('user count', 2);
    await b.expectNext('user count', 2);
    a.expectNoMore('user count');
    b.expectNoMore('user count');
    pass('everyone-sees-two');
  },

  // The count drops when a client leaves or vanishes, and rises again on a rejoin.
  async '05-disconnect'({ mode, client, pass }) {
    const a = client('A');
    await a.connect();
    await a.expectNext('user count', 1);
    const b = client('B');
    await b.connect();
    await a.expectNext('user count', 2);
    await b.expectNext('user count', 2);
    b.leave();
    await a.expectNext('user count', 1);
    pass('count-drops-on-leave');
    const c = client('C');
    await c.connect();
    await a.expectNext('user count', 2);
    await c.expectNext('user count', 2);
    pass('count-after-rejoin');
    // Cutting a long-polling client off would take the server's ping timeout to notice.
    if (mode !== 'polling') {
      c.vanish();
      await a.expectNext('user count', 1);
      pass('count-drops-on-vanish');
    }
    a.expectNoMore('user count');
  },

  // `chat message` in, out to everyone with the sender's name; `user` on join and leave.
  async '06-chat-messages'({ client, pass }) {
    await chatAsInStage06(client, pass);
  },

  // A session cookie and a name kept in it; the socket still takes the name from `auth`.
  async '07-sessions'({ url, client, pass }) {
    const ada = await visit(url, 'ada');
    const { attributes } = ada.setCookie;
    assert.ok(attributes.has('httponly'), `ada: the session cookie is not HttpOnly: ${show(ada.setCookie.line)}`);
    assert.equal(attributes.get('path'), '/', `ada: the session cookie's Path is not "/": ${show(ada.setCookie.line)}`);
    pass('sets-session-cookie');
    pass('serves-me');
    for (const time of ['again', 'a third time']) {
      const name = await sessionName(url, 'ada', ada.cookie);
      assert.equal(name, ada.name, `ada: GET /me ${time} with her cookie answered another name`);
    }
    pass('name-kept-in-session');
    await expectAnotherVisitor(url, ada);
    pass('new-visitor-new-name');

    // The session cookie on every Socket.IO request changes nothing yet.
    const withCookie = (options = {}) => ({ ...options, extraHeaders: { cookie: ada.cookie } });
    await chatAsInStage06((label, options) => client(label, withCookie(options)), pass);
  },

  // The handshake's session decides who may connect, and under which name.
  async '08-socket-session-auth'({ url, client, pass }) {
    const ada = await visit(url, 'ada');
    const grace = await visit(url, 'grace');
    assert.notEqual(grace.cookie, ada.cookie, 'grace got the same session cookie as ada');

    // Every attempt at once (each waits a moment for a late `connect`); none may be
    // counted, which ada's count of 1 below confirms.
    const attempt = (label, cookie) =>
      client(label, { auth: { name: CLAIMED }, ...(cookie ? { extraHeaders: { cookie } } : {}) }).expectRefused();
    const madeUp = `${SESSION_COOKIE}=${randomBytes(16).toString('base64url')}`;
    const attempts = await Promise.allSettled([
      attempt('anonymous', undefined),
      attempt('made-up', madeUp),
      attempt('tampered', `${SESSION_COOKIE}=${tamper(ada.value)}`),
      ...OTHER_COOKIE_NAMES.map((name) => attempt(`as-${name}`, `${name}=${ada.value}`)),
    ]);
    const failed = attempts.filter((a) => a.status === 'rejected').map((a) => a.reason.message);
    if (failed.length) {
      const which = `${failed.length} of ${attempts.length} clients without the page's session cookie`;
      throw new Error(`${which} were not refused: ${failed.join('; ')}`);
    }
    const [anonymous, ...others] = attempts.map((a) => a.value);
    pass(`anonymous-refused (${anonymous})`);
    pass('forged-cookie-refused');
    pass('other-name-refused');
    log(`the other refusals: ${others.join('; ')}`);

    const options = (visitor) => ({ auth: { name: CLAIMED }, extraHeaders: { cookie: visitor.cookie } });
    const adaSocket = client('ada', options(ada));
    await adaSocket.connect();
    await adaSocket.expectNext('user', { name: ada.name, count: 1, connected: true });
    pass('session-accepted');
    const graceSocket = client('grace', options(grace));
    await graceSocket.connect();
    await graceSocket.expectNext('user', { name: grace.name, count: 2, connected: true });
    await adaSocket.expectNext('user', { name: grace.name, count: 2, connected: true });

    const text = 'hello from ada';
    await sendWithAck(adaSocket, text);
    await adaSocket.expectNext('chat message', { name: ada.name, message: text });
    await graceSocket.expectNext('chat message', { name: ada.name, message: text });
    const reply = 'hi ada';
    graceSocket.socket.emit('chat message', reply);
    await adaSocket.expectNext('chat message', { name: grace.name, message: reply });
    await graceSocket.expectNext('chat message', { name: grace.name, message: reply });
    pass('chat-name-from-session');

    graceSocket.leave();
    await adaSocket.expectNext('user', { name: grace.name, count: 1, connected: false });
    for (const event of ['user', 'chat message']) adaSocket.expectNoMore(event);
  },

  // The same checks as stage 08: only where the sessions live has changed (the grader's
  // own probes restart the server and read the database; a client cannot).
  async '09-mongo-session-store'(args) {
    await STAGES['08-socket-session-auth'](args);
  },

  // Accounts and tokens: see accounts.mjs.
  '10-login-logout': loginLogout,
  '11-jwt-handshake': jwtHandshake,
  '12-hardening': hardening,
  '13-scale-out': scaleOut,
};

/**
 * Stage 06's chat, also run by later stages whose sockets still take the name from
 * `auth`: `client(label, options)` makes each client.
 */
async function chatAsInStage06(client, pass) {
  const ada = client('ada', { auth: { name: 'ada' } });
  await ada.connect();
  const grace = client('grace', { auth: { name: 'grace' } });
  await grace.connect();
  await ada.expectSome('user', { name: 'grace', count: 2, connected: true });
  pass('announces-joins');

  const text = 'hello from ada';
  await sendWithAck(ada, text);
  pass('acks-chat-message');
  await ada.expectNext('chat message', { name: 'ada', message: text });
  await grace.expectNext('chat message', { name: 'ada', message: text });
  pass('message-reaches-everyone');
  pass('message-names-sender');

  // Without an ack callback as well; the sender's name is grace's own.
  const reply = 'hi ada';
  grace.socket.emit('chat message', reply);
  await ada.expectNext('chat message', { name: 'grace', message: reply });
  await grace.expectNext('chat message', { name: 'grace', message: reply });
  ada.expectNoMore('chat message');
  grace.expectNoMore('chat message');

  grace.leave();
  await ada.expectSome('user', { name: 'grace', count: 1, connected: false });
  pass('announces-leaves');

  // No name in auth: `guest-` and the first 4 characters of the socket id.
  const guest = client('guest');
  await guest.connect();
  await ada.expectSome('user', { name: `guest-${guest.socket.id.slice(0, 4)}`, count: 2, connected: true });
  pass('guest-name');

  // Names are trimmed and cut to 24 characters.
  const long = client('long', { auth: { name: '  Grace Brewster Murray Hopper  ' } });
  await long.connect();
  await ada.expectSome('user', { name: 'Grace Brewster Murray Ho', count: 3, connected: true });
  pass('name-trimmed-and-cut');
}

/** Sends a `chat message` and waits for the server's acknowledgement. */
async function sendWithAck(sender, text) {
  let ack;
  try {
    ack = await sender.socket.timeout(WAIT_MS).emitWithAck('chat message', text);
  } catch (err) {
    throw new Error(`${sender.label}: no ack for \`chat message\` within ${WAIT_MS} ms (${err.message})`);
  }
  log(`${sender.label} got the ack ${show(ack)}`);
}

/**
 * A visitor loads the page: `GET /` must set the session cookie, and `GET /me` with it
 * must answer the session's name. Returns the cookie (`cookie`, as a `Cookie` header;
 * `value`; the parsed `setCookie`) and the `name`.
 */
async function visit(url, who) {
  const page = await get(url, '/');
  assert.equal(page.status, 200, `${who}: GET / answered ${page.status}, expected 200`);
  const setCookie = page.setCookies
    .map((line) => ({ line, ...parseSetCookie(line) }))
    .find((c) => c.name === SESSION_COOKIE);
  assert.ok(
    setCookie?.value,
    `${who}: GET / set no \`${SESSION_COOKIE}\` cookie; its Set-Cookie lines: ${show(page.setCookies)}`,
  );
  const cookie = `${SESSION_COOKIE}=${setCookie.value}`;
  const name = await sessionName(url, who, cookie);
  log(`${who} has the session ${show(setCookie.value)} named ${show(name)}`);
  return { cookie, value: setCookie.value, setCookie, name };
}

/** `GET /me` with `cookie`: the session's name, checked for form. */
async function sessionName(url, who, cookie) {
  const me = await get(url, '/me', { cookie });
  assert.equal(me.status, 200, `${who}: GET /me answered ${me.status}, expected 200`);
  assert.match(me.type, /^application\/json/i, `${who}: GET /me has content-type ${show(me.type)}, expected JSON`);
  let body;
  try {
    body = JSON.parse(me.body);
  } catch {
    throw new Error(`${who}: GET /me answered ${show(me.body)}, which is not JSON`);
  }
  assert.equal(typeof body?.name, 'string', `${who}: GET /me answered ${show(body)}, expected {"name": "…"}`);
  assert.match(body.name, SESSION_NAME, `${who}: the session's name ${show(body.name)} is not adjective-animal-NN`);
  return body.name;
}

/**
 * A second visitor gets a cookie and a session of their own. Random names collide now
 * and then, so a name equal to ada's is only wrong when a third visitor gets it too.
 */
async function expectAnotherVisitor(url, ada) {
  const grace = await visit(url, 'grace');
  assert.notEqual(grace.cookie, ada.cookie, 'grace got the same session cookie as ada');
  if (grace.name !== ada.name) return;
  const linus = await visit(url, 'linus');
  assert.notEqual(linus.name, ada.name, `ada, grace and linus all got the name ${show(ada.name)}`);
}

/**
 * The cookie value with one character of the session id changed. tower-sessions'
 * signed cookies are 44 characters of signature, then the 22 of the id.
 */
function tamper(value) {
  const at = Math.max(value.length - 22, 0);
  return value.slice(0, at) + (value[at] === 'A' ? 'B' : 'A') + value.slice(at + 1);
}

const [stage, urlArg, mode] = process.argv.slice(2);
/** Stage 13 runs two servers: `URL_A,URL_B`; every other stage one. */
const urls = (urlArg ?? '').split(',').filter(Boolean);
const url = urls[0];
if (!STAGES[stage] || !url || !MODES[mode]) {
  console.error(
    `usage: node check.mjs STAGE URL MODE\n  STAGE: ${Object.keys(STAGES).join(' | ')}\n  MODE: ${Object.keys(MODES).join(' | ')}`,
  );
  process.exit(2);
}

const startedAt = Date.now();
const clients = [];
const passed = [];
const what = `${stage} over ${mode} (socket.io-client ${CLIENT_VERSION}, ${urls.join(' and ')})`;
let finished = false;

function finish(err) {
  if (finished) return;
  finished = true;
  for (const c of clients) c.close();
  const ms = Date.now() - startedAt;
  if (err) {
    console.log(`FAIL ${what} after ${ms} ms: ${err.message}`);
    console.error(`passed before the failure: ${passed.join(', ') || 'none'}`);
    console.error(`--- trace ---\n${traceText()}`);
  } else {
    console.log(`ok ${what}: ${passed.join(', ')} in ${ms} ms`);
  }
  // Give the DISCONNECT packets a moment to leave, then exit whatever is still open.
  setTimeout(() => process.exit(err ? 1 : 0), 20);
}

setTimeout(() => finish(new Error(`the run took longer than ${RUN_LIMIT_MS} ms`)), RUN_LIMIT_MS);
process.on('uncaughtException', finish);
process.on('unhandledRejection', finish);

try {
  await STAGES[stage]({
    url,
    urls,
    mode,
    /** A client of the server at `base` (the first URL unless told). */
    client(label, options, base = url) {
      const c = new Client(label, base, mode, options);
      clients.push(c);
      return c;
    },
    pass(id) {
      log(`pass ${id}`);
      passed.push(id);
    },
  });
  finish(null);
} catch (err) {
  finish(err);
}
