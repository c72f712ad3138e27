// Drives the chat page of a running server in headless Chromium, the way people use it:
// open the page, wait for it to connect, type, read what the other page shows.
//
//   node browser.mjs SCENARIO URL OUTDIR [NAMES]
//     SCENARIO  chat | cannot-connect   (see SCENARIOS below)
//     URL       the server, e.g. http://127.0.0.1:3000 (a fresh one: the counts start at 0)
//     OUTDIR    where the screenshots go (PNG; created if missing)
//     NAMES     where a page's display name comes from, for `chat`: `query` (the default:
//               `?name=` in the address, stage 06) or `session` (the server's `GET /me`,
//               stage 07 on, whatever the address says)
//
// The browser is Debian's Chromium (CHROMIUM, default /usr/bin/chromium), driven by
// playwright-core, which never downloads a browser of its own. Prints one summary line on
// stdout (`ok …` or `FAIL …`) and the screenshots it saved; on failure, a trace of what
// happened on stderr and a screenshot of every page as it was. Every wait gives up after
// WAIT_MS, the whole run after RUN_LIMIT_MS; the script always exits: 0 when every check
// passes, 1 when one fails, 2 on bad arguments.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** Every wait gives up after this long. */
const WAIT_MS = 5000;
/** Starting Chromium gives up after this long (a cold start takes a second or two). */
const LAUNCH_MS = 20_000;
/**
 * Stops everything after this long, whatever is still pending. With the failure's
 * screenshots and closing Chromium, the script is gone well within browser.rs's 60 s.
 */
const RUN_LIMIT_MS = 40_000;
/** How long a page that must not connect is watched after it gave up. */
const STAYS_OUT_MS = 1000;
/** The values of NAMES. */
const NAME_SOURCES = ['query', 'session'];

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// The flags this machine's notes give for headless Chromium in a closed network: no
// sandbox (we run as root in CI), no GPU, and none of Chromium's own calls home (they
// would be refused, many at a time, and slow every start).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const VIEWPORT = { width: 640, height: 420 };

// ---- Trace ------------------------------------------------------------------

const startedAt = Date.now();
const trace = [];

function log(line) {
  trace.push(`+${String(Date.now() - startedAt).padStart(5)} ms  ${line}`);
}

const show = (value) => (value === undefined ? 'undefined' : JSON.stringify(value));

// ---- A page, as a person sees it --------------------------------------------

// Runs in every page before its own scripts: remembers each `data-state` the status
// element takes, so a check can ask whether the page was ever connected.
function recordStates() {
  window.__states = [];
  new MutationObserver(() => {
    const state = document.getElementById('status')?.dataset.state;
    if (state && window.__states.at(-1) !== state) window.__states.push(state);
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
}

// What the page shows, read in the page: its name, status, count and lines.
function readPage() {
  const text = (id) => document.getElementById(id)?.textContent ?? null;
  return {
    name: text('name'),
    state: document.getElementById('status')?.dataset.state ?? null,
    status: text('status'),
    count: text('count'),
    lines: [...document.querySelectorAll('#messages li')].map((li) => ({
      classes: li.className,
      text: li.textContent,
      who: li.querySelector('strong')?.textContent ?? null,
    })),
    states: window.__states ?? [],
  };
}

class Page {
  constructor(label, page) {
    this.label = label;
    this.page = page;
    this.errors = [];
    page.setDefaultTimeout(WAIT_MS);
    page.on('console', (msg) => log(`${label} console.${msg.type()}: ${msg.text()} (${msg.location().url})`));
    page.on('pageerror', (err) => {
      log(`${label} page error: ${err.message}`);
      this.errors.push(err.message);
    });
    page.on('requestfailed', (req) => log(`${label} request failed: ${req.method()} ${req.url()} (${req.failure()?.errorText})`));
    page.on('websocket', (ws) => {
      log(`${label} websocket opened: ${ws.url()}`);
      ws.on('close', () => log(`${label} websocket closed`));
    });
    /** The finished Socket.IO (polling) requests, with the `Cookie` header each carried. */
    this.socketRequests = [];
    page.on('requestfinished', async (req) => {
      if (!new URL(req.url()).pathname.startsWith('/socket.io/')) return;
      // The headers Chromium really sent, cookies included (`headers()` leaves them out).
      const cookie = (await req.allHeaders().catch(() => ({}))).cookie ?? null;
      this.socketRequests.push({ method: req.method(), url: req.url(), cookie });
    });
  }

  /** The display name this page's person must see: `label`, or the session's from `/me`. */
  async expectedName(url, names) {
    if (names === 'query') return this.label;
    // The context's own request client: it sends and keeps the context's cookies, so this
    // is the page's session.
    const response = await this.page.context().request.get(`${url}/me`, { timeout: WAIT_MS });
    const text = await response.text();
    if (!response.ok()) throw new Error(`${this.label}: GET /me answered ${response.status()}: ${show(text)}`);
    let name;
    try {
      ({ name } = JSON.parse(text));
    } catch {
      throw new Error(`${this.label}: GET /me answered ${show(text)}, which is not JSON`);
    }
    if (typeof name !== 'string' || !name) throw new Error(`${this.label}: GET /me answered ${show(text)}, no name`);
    log(`${this.label}'s session is named ${show(name)}`);
    return name;
  }

  /** The context's cookies for `url`, as `name=value` pairs. */
  async cookies(url) {
    return (await this.page.context().cookies(url)).map((c) => `${c.name}=${c.value}`).sort();
  }

  async open(url) {
    log(`${this.label} opens ${url}`);
    const response = await this.page.goto(url, { waitUntil: 'load', timeout: WAIT_MS });
    if (!response?.ok()) throw new Error(`${this.label}: GET ${url} answered ${response?.status() ?? 'nothing'}`);
  }

  /** What the page shows now; bounded, and never throws (for failure messages). */
  async read() {
    try {
      return await withTimeout(this.page.evaluate(readPage), 1000, 'reading the page');
    } catch (err) {
      return { unreadable: err.message };
    }
  }

  /**
   * Waits until `predicate(readPage())`, evaluated in the page, is true. `what` says what
   * was awaited; on timeout the error says that and what the page shows instead.
   */
  async waitUntil(what, predicate, arg) {
    log(`${this.label} waits for ${what}`);
    try {
      // One expression, evaluated in the page until it is true: the predicate applied to
      // what the page shows now.
      const expression = `(${predicate})((${readPage})(), ${JSON.stringify(arg ?? null)})`;
      await this.page.waitForFunction(expression, undefined, { timeout: WAIT_MS, polling: 50 });
    } catch (err) {
      if (err.name !== 'TimeoutError') throw err;
      throw new Error(`${this.label}: no ${what} within ${WAIT_MS} ms; the page shows ${describe(await this.read())}`);
    }
    log(`${this.label} sees ${what}`);
  }

  waitForState(state) {
    return this.waitUntil(`#status data-state=${show(state)}`, (p, want) => p.state === want, state);
  }

  waitForCount(count) {
    return this.waitUntil(`#count reading ${show(count)}`, (p, want) => p.count === want, count);
  }

  /** A line in #messages whose text is exactly `text` (and whose class list has `className`). */
  waitForLine(text, className) {
    return this.waitUntil(
      `a line ${show(text)} (class ${show(className)}) in #messages`,
      (p, [text, className]) => p.lines.some((l) => l.text === text && l.classes.split(' ').includes(className)),
      [text, className],
    );
  }

  /** Types `text` into #input the way a person does, and presses Enter. */
  async say(text) {
    log(`${this.label} types ${show(text)} and presses Enter`);
    const input = this.page.locator('#input');
    await input.click();
    await input.pressSequentially(text);
    await input.press('Enter');
  }

  async screenshot(dir, file, saved, timeout = WAIT_MS) {
    const path = join(dir, file);
    await this.page.screenshot({ path, timeout });
    log(`${this.label} screenshot ${path}`);
    saved.push(path);
  }
}

function describe(shown) {
  if (shown.unreadable) return `nothing readable (${shown.unreadable})`;
  const lines = shown.lines.map((l) => `${l.text} [${l.classes}]`);
  return (
    `name ${show(shown.name)}, status ${show(shown.status)} (data-state ${show(shown.state)}, ` +
    `states so far ${show(shown.states)}), count ${show(shown.count)}, lines ${show(lines)}`
  );
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- Scenarios --------------------------------------------------------------

const SCENARIOS = {
  // Stage 06 and every later stage whose page connects: two people chat. With NAMES
  // `session`, each person's name is the one `/me` gives their session, and the
  // `?name=` in the address must not win over it.
  async chat({ url, names, outdir, person, pass, saved }) {
    const ada = await person('ada');
    await ada.open(`${url}/?name=ada`);
    await ada.waitForState('connected');
    const grace = await person('grace');
    await grace.open(`${url}/?name=grace`);
    await grace.waitForState('connected');
    for (const p of [ada, grace]) {
      p.name = await p.expectedName(url, names);
      const shown = await p.read();
      if (shown.name !== p.name) {
        throw new Error(`${p.label}: #name shows ${show(shown.name)}, expected ${show(p.name)}`);
      }
    }
    if (names === 'session') {
      const [adaCookies, graceCookies] = [await ada.cookies(url), await grace.cookies(url)];
      if (!adaCookies.length) throw new Error('ada: the page left no session cookie in her browser');
      if (adaCookies.join() === graceCookies.join()) {
        throw new Error(`ada and grace hold the same cookies ${show(adaCookies)}: one session for two people`);
      }
      pass('each-page-has-its-session');
    }
    pass('both-pages-connect');

    await ada.waitForCount('2');
    await grace.waitForCount('2');
    pass('count-two-on-both');
    await ada.waitForLine(`${ada.name} joined`, 'event');
    await ada.waitForLine(`${grace.name} joined`, 'event');
    await grace.waitForLine(`${grace.name} joined`, 'event');
    pass('join-lines');

    const hello = 'hello from ada';
    await ada.say(hello);
    await grace.waitForLine(`${ada.name}: ${hello}`, 'chat');
    // The sender's own line is marked delivered when the server's ack arrives, and the
    // server's copy of it coming back must not add a second one.
    await ada.waitForLine(`${ada.name}: ${hello}`, 'delivered');
    const own = (await ada.read()).lines.filter((l) => l.text === `${ada.name}: ${hello}`);
    if (own.length !== 1) throw new Error(`ada: her line shows ${own.length} times, expected once: ${show(own)}`);
    pass('message-reaches-the-other-page');

    const reply = 'hi ada, grace here';
    await grace.say(reply);
    await ada.waitForLine(`${grace.name}: ${reply}`, 'chat');
    await grace.waitForLine(`${grace.name}: ${reply}`, 'delivered');
    pass('reply-comes-back');
    await ada.screenshot(outdir, 'chat-ada.png', saved);
    await grace.screenshot(outdir, 'chat-grace.png', saved);

    // Closing the tab: the WebSocket closes, the server counts grace out.
    log('grace closes her tab');
    await grace.page.close();
    await ada.waitForCount('1');
    await ada.waitForLine(`${grace.name} left`, 'event');
    pass('count-one-after-close');
    pass('leave-line');
    const states = (await ada.read()).states;
    if (states.join() !== 'connected') {
      throw new Error(`ada: the status went through ${show(states)}, expected only "connected"`);
    }
    await ada.screenshot(outdir, 'chat-ada-after-grace-left.png', saved);
  },

  // A page whose Socket.IO requests carry no session cookie (stages 08 and 10 refuse
  // one): it must show that it cannot connect, and never connect. The visitor loads the
  // page as anyone does, and gets a session where the server gives one; the browser then
  // forgets its cookies after `/me` answered and before the page connects (see
  // `person`), and the test checks that no Socket.IO request carried a cookie. A refusal
  // is either a CONNECT_ERROR (the client gives up: "refused") or an HTTP error on the
  // handshake (the client keeps retrying: "cannot connect: ...").
  async 'cannot-connect'({ url, outdir, person, pass, saved }) {
    const nobody = await person('nobody', { forgetsCookiesAfterMe: true });
    await nobody.open(`${url}/?name=nobody`);
    await nobody.waitUntil(
      'a refusal (data-state "refused", or "connecting" with "cannot connect")',
      (p) => p.state === 'refused' || (p.state === 'connecting' && /^cannot connect/.test(p.status ?? '')),
    );
    await nobody.page.waitForTimeout(STAYS_OUT_MS);
    const shown = await nobody.read();
    if (shown.states.includes('connected')) {
      throw new Error(`nobody: the page connected at some point: ${describe(shown)}`);
    }
    if (shown.count !== '?') throw new Error(`nobody: #count shows ${show(shown.count)}, expected "?"`);
    const requests = nobody.socketRequests;
    if (!requests.length) throw new Error('nobody: the page made no Socket.IO request that finished');
    const withCookie = requests.filter((r) => r.cookie !== null);
    if (withCookie.length) {
      throw new Error(`nobody: the test let a cookie through, on ${show(withCookie)}: it proves nothing`);
    }
    log(`nobody's status: ${show(shown.status)}; ${requests.length} Socket.IO requests, none with a cookie`);
    pass(`page-cannot-connect (${shown.status})`);
    await nobody.screenshot(outdir, 'cannot-connect.png', saved);
  },
};

// ---- Running one scenario ---------------------------------------------------

const [scenario, rawUrl, outdir, names = 'query'] = process.argv.slice(2);
if (!SCENARIOS[scenario] || !rawUrl || !outdir || !NAME_SOURCES.includes(names)) {
  console.error(
    `usage: node browser.mjs SCENARIO URL OUTDIR [NAMES]\n  SCENARIO: ${Object.keys(SCENARIOS).join(' | ')}\n` +
      `  NAMES: ${NAME_SOURCES.join(' | ')} (default query)`,
  );
  process.exit(2);
}
const url = rawUrl.replace(/\/+$/, '');

let browser = null;
const pages = [];
const passed = [];
const saved = [];
let finished = false;
let what = `${scenario} in Chromium (${url})`;

async function finish(err) {
  if (finished) return;
  finished = true;
  const ms = Date.now() - startedAt;
  if (err) {
    // A picture of every page still open, as it was when the check failed.
    for (const p of pages) {
      if (p.page.isClosed()) continue;
      log(`${p.label} at the failure: ${describe(await p.read())}`);
      await p.screenshot(outdir, `failed-${scenario}-${p.label}.png`, saved, 2000).catch((e) => log(`no screenshot: ${e.message}`));
    }
  }
  if (browser) await withTimeout(browser.close(), 5000, 'closing Chromium').catch((e) => log(e.message));
  if (err) {
    console.log(`FAIL ${what} after ${ms} ms: ${err.message}`);
    console.error(`passed before the failure: ${passed.join(', ') || 'none'}`);
    console.error(`--- trace ---\n${trace.join('\n')}`);
  } else {
    console.log(`ok ${what}: ${passed.join(', ')} in ${ms} ms`);
  }
  for (const path of saved) console.log(`screenshot: ${path}`);
  // playwright-core kills a browser still running when the process exits.
  process.exit(err ? 1 : 0);
}

setTimeout(() => finish(new Error(`the run took longer than ${RUN_LIMIT_MS} ms`)), RUN_LIMIT_MS);
process.on('SIGTERM', () => finish(new Error('stopped from outside (SIGTERM) before the checks were done')));
process.on('uncaughtException', finish);
process.on('unhandledRejection', finish);

try {
  mkdirSync(outdir, { recursive: true });
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's \`chromium\` package (./scripts/test does it) or set CHROMIUM`,
    );
  }
  log(`launching ${CHROMIUM}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: LAUNCH_MS });
  what = `${scenario} in Chromium ${browser.version()} (${url})`;
  log(`Chromium ${browser.version()} is up`);
  await SCENARIOS[scenario]({
    url,
    names,
    outdir,
    // Each person gets a context of their own: their own cookies and localStorage, as
    // two people on two machines would have.
    async person(label, { forgetsCookiesAfterMe = false } = {}) {
      const context = await browser.newContext({ viewport: VIEWPORT });
      await context.addInitScript(recordStates);
      if (forgetsCookiesAfterMe) {
        // The page connects only once `/me` has answered (chat.js's `start`), so the
        // answer is held back until the browser has forgotten every cookie: the Socket.IO
        // requests that follow carry none. (Removing the `Cookie` header when a route
        // continues a Socket.IO request is no use: Chromium still sends the stored
        // cookies, and `allHeaders()` of the routed request wrongly says it did not. The
        // Socket.IO requests are not routed, so their `allHeaders()` is what was sent.)
        await context.route(
          (u) => u.pathname === '/me',
          async (route) => {
            const response = await route.fetch({ timeout: WAIT_MS });
            const forgotten = (await context.cookies()).map((c) => c.name);
            await context.clearCookies();
            log(`${label}'s browser forgets its cookies ${show(forgotten)} before /me answers`);
            const headers = { ...response.headers() };
            delete headers['set-cookie'];
            await route.fulfill({ response, headers });
          },
        );
      }
      const p = new Page(label, await context.newPage());
      pages.push(p);
      return p;
    },
    pass(id) {
      log(`pass ${id}`);
      passed.push(id);
    },
    saved,
  });
  for (const p of pages) {
    if (p.errors.length) throw new Error(`${p.label}: the page's script failed: ${p.errors.join('; ')}`);
  }
  await finish(null);
} catch (err) {
  await finish(err);
}
