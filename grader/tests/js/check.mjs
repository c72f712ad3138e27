// Drives one stage's server with the JavaScript socket.io-client and checks what the
// grader's hints check, over one transport mode.
//
//   node check.mjs STAGE URL MODE
//     STAGE  03-socketio-setup | 04-user-count | 05-disconnect | 06-chat-messages
//     URL    the server, e.g. http://127.0.0.1:3000 (a fresh server: the counts start at 0)
//     MODE   polling | websocket | upgrade
//
// Prints one summary line on stdout (`ok …` or `FAIL …`); on failure, a trace of every
// event on stderr. Exits 0 when every check passes, 1 when one fails, 2 on bad arguments.

import assert from 'node:assert/strict';
import { CLIENT_VERSION, Client, MODES, WAIT_MS, get, log, show, traceText } from './lib.mjs';

/** Stops everything after this long, whatever is still pending. */
const RUN_LIMIT_MS = 20_000;

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
    const ada = client('ada', { auth: { name: 'ada' } });
    await ada.connect();
    const grace = client('grace', { auth: { name: 'grace' } });
    await grace.connect();
    await ada.expectSome('user', { name: 'grace', count: 2, connected: true });
    pass('announces-joins');

    const text = 'hello from ada';
    let ack;
    try {
      ack = await ada.socket.timeout(WAIT_MS).emitWithAck('chat message', text);
    } catch (err) {
      throw new Error(`ada: no ack for \`chat message\` within ${WAIT_MS} ms (${err.message})`);
    }
    log(`ada got the ack ${show(ack)}`);
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
  },
};

const [stage, url, mode] = process.argv.slice(2);
if (!STAGES[stage] || !url || !MODES[mode]) {
  console.error(
    `usage: node check.mjs STAGE URL MODE\n  STAGE: ${Object.keys(STAGES).join(' | ')}\n  MODE: ${Object.keys(MODES).join(' | ')}`,
  );
  process.exit(2);
}

const startedAt = Date.now();
const clients = [];
const passed = [];
const what = `${stage} over ${mode} (socket.io-client ${CLIENT_VERSION}, ${url})`;
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
    mode,
    client(label, options) {
      const c = new Client(label, url, mode, options);
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
