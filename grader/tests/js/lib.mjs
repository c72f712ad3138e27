// Helpers for check.mjs: a socket.io-client wrapper that records every event it receives,
// waits with a timeout for the next one, and says what it expected and what arrived; it
// also tells a server's refusal (stage 08) from a connection that merely failed. And a
// bounded GET that sends a cookie and returns the ones the server sets.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { io } from 'socket.io-client';

/** Every wait gives up after this long. */
export const WAIT_MS = 5000;
/** How long a refused client is watched after the refusal, for a late `connect`. */
const STAYS_OUT_MS = 300;

export const CLIENT_VERSION = JSON.parse(
  readFileSync(new URL('./node_modules/socket.io-client/package.json', import.meta.url), 'utf8'),
).version;

/** socket.io-client options per transport mode. */
export const MODES = {
  polling: { transports: ['polling'], upgrade: false },
  websocket: { transports: ['websocket'] },
  upgrade: { transports: ['polling', 'websocket'], upgrade: true },
};

const started = Date.now();
const trace = [];

/** Adds a line to the trace printed when a check fails. */
export function log(line) {
  trace.push(`+${String(Date.now() - started).padStart(5)} ms  ${line}`);
}

export function traceText() {
  return trace.join('\n');
}

export const show = (value) => (value === undefined ? 'undefined' : JSON.stringify(value));
const showArgs = (args) => args.map(show).join(', ');
const showList = (list) => (list.length ? list.map(showArgs).join(' | ') : 'nothing');

/** A Socket.IO client on the default namespace "/", with its own connection (forceNew). */
export class Client {
  constructor(label, url, mode, options = {}) {
    this.label = label;
    this.mode = mode;
    /** Event name → argument lists received and not yet consumed. */
    this.queues = new Map();
    /** Event name → every argument list received. */
    this.seen = new Map();
    this.waiters = new Set();
    this.disconnectReason = null;
    /** How many times `connect` fired (a refused client must stay at 0). */
    this.connects = 0;
    /**
     * Errors of the connection below Socket.IO (transport, handshake, timeout): the
     * manager emits them as `error`. A `connect_error` that is not among them is the
     * server's CONNECT_ERROR packet.
     */
    this.managerErrors = new Set();
    this.openedOver = null;
    this.upgradedTo = null;
    this.upgradeError = null;
    this.socket = io(url, {
      ...MODES[mode],
      ...options,
      forceNew: true,
      reconnection: false,
      autoConnect: false,
      timeout: WAIT_MS,
    });
    this.socket.onAny((event, ...args) => {
      log(`${label} <- ${show(event)} ${showArgs(args)}`);
      if (!this.queues.has(event)) {
        this.queues.set(event, []);
        this.seen.set(event, []);
      }
      this.queues.get(event).push(args);
      this.seen.get(event).push(args);
      this.notify();
    });
    this.socket.on('connect', () => {
      this.connects += 1;
    });
    this.socket.io.on('error', (err) => {
      log(`${label} manager error: ${describeError(err)}`);
      this.managerErrors.add(err);
    });
    this.socket.on('disconnect', (reason) => {
      log(`${label} disconnected: ${reason}`);
      this.disconnectReason = reason;
      this.notify();
    });
    // The manager opens the Engine.IO connection; the upgrade probe starts right after.
    this.socket.io.on('open', () => {
      const engine = this.socket.io.engine;
      this.openedOver = engine.transport.name;
      log(`${label} engine open over ${this.openedOver}, sid ${engine.id}`);
      engine.on('upgrade', (transport) => {
        log(`${label} engine upgraded to ${transport.name}`);
        this.upgradedTo = transport.name;
        this.notify();
      });
      engine.on('upgradeError', (err) => {
        log(`${label} upgrade failed: ${err.message}`);
        this.upgradeError = err;
        this.notify();
      });
    });
  }

  notify() {
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * Waits until `attempt()` returns something other than undefined (or throws), re-trying on
   * every event. `describe()` says what was awaited, for the timeout message.
   */
  waitFor(describe, attempt) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(tryIt);
      };
      const tryIt = () => {
        let result;
        try {
          result = attempt();
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (result !== undefined) {
          cleanup();
          resolve(result);
        }
      };
      timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.label}: timed out after ${WAIT_MS} ms waiting for ${describe()}`));
      }, WAIT_MS);
      this.waiters.add(tryIt);
      tryIt();
    });
  }

  /** Connects to "/" and checks the transport the mode asks for. */
  async connect() {
    const { label, mode, socket } = this;
    log(`${label} connecting over ${mode}`);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${label}: no \`connect\` to "/" within ${WAIT_MS} ms over ${mode}`)),
        WAIT_MS,
      );
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('connect_error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${label}: connect_error over ${mode}: ${describeError(err)}`));
      });
      socket.connect();
    });
    const engine = socket.io.engine;
    log(`${label} connected, socket id ${socket.id}, transport ${engine.transport.name}`);
    assert.ok(engine.id, `${label}: the Engine.IO handshake gave no sid`);
    assert.ok(socket.id, `${label}: the Socket.IO CONNECT answer gave no socket id`);
    if (mode === 'upgrade') {
      assert.equal(this.openedOver, 'polling', `${label}: with upgrade, the connection opens over polling`);
      await this.waitFor(
        () => 'the `upgrade` event of the Engine.IO socket (polling → websocket)',
        () => {
          if (this.upgradeError) throw new Error(`${label}: the upgrade to websocket failed: ${this.upgradeError.message}`);
          if (this.disconnectReason) throw new Error(`${label}: disconnected (${this.disconnectReason}) before the upgrade`);
          return this.upgradedTo ?? undefined;
        },
      );
      assert.equal(this.upgradedTo, 'websocket', `${label}: upgraded to ${this.upgradedTo}, expected websocket`);
    }
    const expected = mode === 'polling' ? 'polling' : 'websocket';
    assert.equal(
      engine.transport.name,
      expected,
      `${label}: the connection runs over ${engine.transport.name}, expected ${expected}`,
    );
  }

  /**
   * Connects and expects to be refused: a CONNECT_ERROR from the server, or its HTTP
   * 401/403 answer to the Engine.IO handshake, and no `connect` then or a moment later.
   * A connection that fails some other way (refused TCP, a timeout) is no refusal.
   * Returns how the server refused, for the summary.
   */
  async expectRefused() {
    const { label, mode, socket } = this;
    log(`${label} connecting over ${mode}, expecting a refusal`);
    const err = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${label}: neither \`connect\` nor \`connect_error\` within ${WAIT_MS} ms over ${mode}`));
      }, WAIT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        reject(new Error(`${label}: connected over ${mode} (socket id ${socket.id}), expected a refusal`));
      });
      socket.once('connect_error', (error) => {
        clearTimeout(timer);
        resolve(error);
      });
      socket.connect();
    });
    const refusal = refusalOf(err, this.managerErrors.has(err));
    if (!refusal) {
      throw new Error(
        `${label}: connect_error over ${mode} is no refusal by the server (expected a CONNECT_ERROR, ` +
          `or HTTP 401/403 on the handshake): ${describeError(err)}`,
      );
    }
    log(`${label} refused: ${refusal}`);
    await new Promise((resolve) => setTimeout(resolve, STAYS_OUT_MS));
    assert.equal(this.connects, 0, `${label}: \`connect\` fired after the refusal (${refusal})`);
    assert.equal(
      this.seen.size,
      0,
      `${label}: the refused client received events: ${[...this.seen.keys()].map((e) => this.history(e)).join('; ')}`,
    );
    return refusal;
  }

  /** The next `event` this client receives must carry exactly `expected`. */
  expectNext(event, expected) {
    const want = `\`${event}\` ${show(expected)}`;
    return this.waitFor(
      () => `${want}; received ${this.history(event)}`,
      () => {
        const queue = this.queues.get(event);
        if (queue?.length) {
          const args = queue.shift();
          if (!isDeepStrictEqual(args, [expected])) {
            throw new Error(`${this.label}: expected ${want}, got \`${event}\` ${showArgs(args)}`);
          }
          return args;
        }
        this.failIfDisconnected(want);
        return undefined;
      },
    );
  }

  /** Some later `event` must carry exactly `expected`; others of that name are passed over. */
  expectSome(event, expected) {
    const want = `\`${event}\` ${show(expected)}`;
    return this.waitFor(
      () => `${want}; received ${this.history(event)}`,
      () => {
        const queue = this.queues.get(event) ?? [];
        while (queue.length) {
          const args = queue.shift();
          if (isDeepStrictEqual(args, [expected])) return args;
        }
        this.failIfDisconnected(want);
        return undefined;
      },
    );
  }

  /** No `event` beyond those already consumed has arrived. */
  expectNoMore(event) {
    const queue = this.queues.get(event) ?? [];
    assert.equal(
      queue.length,
      0,
      `${this.label}: unexpected extra \`${event}\`: ${showList(queue)} (all received: ${this.history(event)})`,
    );
  }

  history(event) {
    return `\`${event}\`: ${showList(this.seen.get(event) ?? [])}`;
  }

  failIfDisconnected(want) {
    if (this.disconnectReason) {
      throw new Error(`${this.label}: disconnected (${this.disconnectReason}) while waiting for ${want}`);
    }
  }

  /** Leaves cleanly: a Socket.IO DISCONNECT packet, then the transport closes. */
  leave() {
    log(`${this.label} leaves (socket.disconnect())`);
    this.socket.disconnect();
  }

  /** Vanishes without a goodbye: the WebSocket's TCP connection is cut (ws terminate()). */
  vanish() {
    const transport = this.socket.io.engine.transport;
    assert.equal(transport.name, 'websocket', `${this.label}: can only vanish from a WebSocket`);
    assert.equal(typeof transport.ws?.terminate, 'function', `${this.label}: no ws socket to cut`);
    log(`${this.label} vanishes (TCP connection cut, no close frame)`);
    transport.ws.terminate();
  }

  close() {
    this.socket.disconnect();
  }
}

/** A `connect_error` in one line: message, the transport's detail, the server's data. */
function describeError(err) {
  const detail = err.description !== undefined ? ` (${err.description?.message ?? show(err.description)})` : '';
  const data = err.data !== undefined ? ` data ${show(err.data)}` : '';
  return `${err.message}${detail}${data}`;
}

/**
 * How the server refused, or undefined when `err` is no refusal. From the manager
 * (`fromManager`), only an HTTP 401 or 403 answer counts: socket.io-client reports it as
 * "xhr poll error" with the status as description over polling, and as "websocket error"
 * with ws's "Unexpected server response: 401" over WebSocket. Anything else that reaches
 * `connect_error` is the server's CONNECT_ERROR packet, whose message is the error's.
 */
function refusalOf(err, fromManager) {
  if (!fromManager) return `CONNECT_ERROR ${show(err.message)}`;
  if (err.type !== 'TransportError') return undefined;
  const status =
    typeof err.description === 'number'
      ? err.description
      : Number(/Unexpected server response: (\d+)/.exec(err.description?.message ?? '')?.[1]);
  return status === 401 || status === 403 ? `HTTP ${status} on the handshake (${err.message})` : undefined;
}

/**
 * GET `path` on the server, bounded in time, sending `cookie` (a `Cookie` header) when
 * given. `setCookies` holds the response's `Set-Cookie` lines.
 */
export async function get(base, path, { cookie } = {}) {
  const url = new URL(path, base);
  let res;
  try {
    res = await fetch(url, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(WAIT_MS) });
  } catch (err) {
    throw new Error(`GET ${url.pathname} failed: ${err.cause?.message ?? err.message}`);
  }
  const body = await res.text();
  const setCookies = res.headers.getSetCookie();
  log(
    `GET ${url.pathname}${cookie ? ` (Cookie: ${cookie})` : ''} -> ${res.status} ${res.headers.get('content-type')} ` +
      `(${body.length} chars)${setCookies.length ? `, Set-Cookie: ${show(setCookies)}` : ''}`,
  );
  return { status: res.status, type: res.headers.get('content-type') ?? '', body, url, setCookies };
}

/**
 * One `Set-Cookie` line: `{ name, value, attributes }`, where `attributes` maps each
 * attribute's lower-case name to its value ('' for flags such as HttpOnly).
 */
export function parseSetCookie(line) {
  const [pair, ...rest] = line.split(';');
  const at = pair.indexOf('=');
  const attributes = new Map(
    rest.map((part) => {
      const eq = part.indexOf('=');
      return eq === -1
        ? [part.trim().toLowerCase(), '']
        : [part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim()];
    }),
  );
  return { name: pair.slice(0, at).trim(), value: pair.slice(at + 1).trim(), attributes };
}

/**
 * POST `body` to `path`, bounded in time, without following redirects: as a form
 * (`application/x-www-form-urlencoded`) when `form` is given, as JSON when `json` is.
 * Returns what `get` returns.
 */
export async function post(base, path, { form, json, cookie } = {}) {
  const url = new URL(path, base);
  const headers = cookie ? { cookie } : {};
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  } else if (json) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(WAIT_MS) });
  } catch (err) {
    throw new Error(`POST ${url.pathname} failed: ${err.cause?.message ?? err.message}`);
  }
  const text = await res.text();
  const setCookies = res.headers.getSetCookie();
  log(
    `POST ${url.pathname}${cookie ? ` (Cookie: ${cookie})` : ''} -> ${res.status} ${show(text.slice(0, 120))}` +
      `${setCookies.length ? `, Set-Cookie: ${show(setCookies)}` : ''}`,
  );
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: text, url, setCookies, headers: res.headers };
}
