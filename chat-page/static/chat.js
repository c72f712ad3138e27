// The chat page's script: connects to the server with Socket.IO and shows what the
// server sends. Every stage from 03 on serves this same file, so a server that does
// not handle an event yet simply leaves that part of the page quiet.
//
// The events, as the course's stages 04 to 06 define them:
//   server -> page   "user count"     a number: how many people are connected
//   server -> page   "user"           { name, count, connected }: someone joined or left
//   server -> page   "chat message"   { name, message }: a line for everyone
//   page -> server   "chat message"   a string, asking for an acknowledgement
//
// And one HTTP request, from stage 07 on: `GET /me` answers `{"name": "..."}`, the
// display name the server keeps in the visitor's session. Earlier stages have no
// `/me`, and the page then picks a name itself.
//
// Plain JavaScript, no build step: what you read here is what the browser runs.

'use strict';

// The server keeps at most this many characters of a name (stage 06).
const MAX_NAME_CHARS = 24;
// How long to wait for the server to acknowledge a message before calling it lost.
const ACK_TIMEOUT_MS = 5000;
// How long to wait for `/me` before picking a name without it: a server that never
// answers must not keep the page from connecting.
const ME_TIMEOUT_MS = 3000;

const statusEl = document.getElementById('status');
const countEl = document.getElementById('count');
const nameEl = document.getElementById('name');
const messagesEl = document.getElementById('messages');
const form = document.getElementById('form');
const input = document.getElementById('input');

// The display name, known once `start` (at the end of this file) has asked the server.
let name = '';

// `io()` without a URL connects to the server that served this page. The name
// travels in the CONNECT packet's `auth` payload: the server reads it there before
// the socket joins, so it knows who this is from the first event on.
//
// `autoConnect: false`: the socket and its handlers are set up now, but it connects
// only when `start` says so, once the name is known. `auth` is a function, which the
// client calls before every attempt (reconnections too), so it sends the name as it
// is then, not as it was when this line ran.
const socket = io({ autoConnect: false, auth: (send) => send({ name }) });

// ---- Connection state -------------------------------------------------------

socket.on('connect', () => {
  setStatus('connected', 'connected');
});

socket.on('disconnect', (reason) => {
  // The client reconnects by itself, except when the server sent us away.
  setStatus('disconnected', `disconnected (${reason})`);
  // Who is online is unknown until the server tells us again.
  countEl.textContent = '?';
});

socket.on('connect_error', (err) => {
  // `socket.active` is false when the server refused the connection (a connect
  // middleware said no): the client will not try again by itself. Otherwise the
  // server could not be reached and the client keeps retrying.
  if (socket.active) {
    setStatus('connecting', `cannot connect: ${err.message}; retrying`);
  } else {
    setStatus('refused', `refused by the server: ${err.message}`);
  }
});

// ---- Who is here ------------------------------------------------------------

socket.on('user count', (count) => {
  setCount(count);
});

socket.on('user', (user) => {
  const { name: who, count, connected } = user ?? {};
  setCount(count);
  addEventLine(`${who} ${connected ? 'joined' : 'left'}`);
});

// ---- Chat -------------------------------------------------------------------

// Messages this page sent that have not come back from the server yet. The server
// sends each chat message to everyone, the sender included. Ours is already on the
// screen (shown when it was sent), so when it comes back it is not added twice.
const waitingForEcho = [];

socket.on('chat message', (payload) => {
  // A server that sends the bare text, without a name, still gets its line shown.
  const { name: from, message } =
    typeof payload === 'string' ? { name: '?', message: payload } : payload ?? {};

  if (from === name) {
    const mine = waitingForEcho.findIndex((sent) => sent.message === message);
    if (mine !== -1) {
      waitingForEcho.splice(mine, 1);
      return;
    }
  }
  addChatLine(from, message, 'chat');
});

form.addEventListener('submit', (event) => {
  // Stay on the page: the form is only a convenient way to catch Enter and clicks.
  event.preventDefault();
  const message = input.value.trim();
  // Without a name yet (the server has not answered `/me`), keep the text for later.
  if (!message || !name) return;
  input.value = '';

  const line = addChatLine(name, message, 'chat mine pending');
  const sent = { message, line };
  waitingForEcho.push(sent);

  // The last argument is the acknowledgement callback: the server calls it once it
  // has the message. With `timeout`, the callback gets an error first if the
  // server never answers, for example because it does not handle the event yet.
  socket.timeout(ACK_TIMEOUT_MS).emit('chat message', message, (err) => {
    line.classList.remove('pending');
    if (err) {
      line.classList.add('failed');
      line.title = 'The server did not confirm this message.';
      const at = waitingForEcho.indexOf(sent);
      if (at !== -1) waitingForEcho.splice(at, 1);
    } else {
      line.classList.add('delivered');
      line.title = 'Delivered';
    }
  });
});

start();

// ---- Helpers ----------------------------------------------------------------

// Finds the name, shows it, and connects.
async function start() {
  name = (await nameFromSession()) || chooseName();
  nameEl.textContent = name;
  socket.connect();
}

// The name the server keeps in this visitor's session (stage 07 on), or '' when it
// does not say: `/me` answers 404 before stage 07, and a server may answer every
// address with the page. Only a JSON object with a non-empty string `name` counts.
// The session's name is not stored in localStorage: it belongs to the session, and
// the server remembers it.
async function nameFromSession() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ME_TIMEOUT_MS);
  try {
    const response = await fetch('/me', {
      headers: { accept: 'application/json' },
      // Always ask: a cached answer could be another session's name.
      cache: 'no-store',
      signal: controller.signal,
    });
    if (!response.ok) return '';
    const body = await response.json();
    return typeof body?.name === 'string' ? cleanName(body.name) : '';
  } catch {
    // No server, not JSON, or too slow: the same as no name.
    return '';
  } finally {
    clearTimeout(timer);
  }
}

// The display name when the server keeps none: `?name=` in the address, else the one
// this browser used last, else a random guest name. It is remembered for the next
// visit.
function chooseName() {
  const fromUrl = new URLSearchParams(window.location.search).get('name');
  const chosen =
    cleanName(fromUrl) ||
    cleanName(readStoredName()) ||
    `guest-${Math.floor(1000 + Math.random() * 9000)}`;
  storeName(chosen);
  return chosen;
}

// Trimmed and cut to MAX_NAME_CHARS characters, as the server does it, so the name
// on chat lines that come back is the same as the one shown here.
function cleanName(text) {
  const chars = Array.from((text ?? '').trim()).slice(0, MAX_NAME_CHARS);
  return chars.join('').trim();
}

// localStorage can be missing or throw (private windows, some file:// pages); the
// page works without it.
function readStoredName() {
  try {
    return window.localStorage.getItem('chat-name');
  } catch {
    return null;
  }
}

function storeName(value) {
  try {
    window.localStorage.setItem('chat-name', value);
  } catch {
    // Not remembered; nothing else to do.
  }
}

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function setCount(count) {
  if (typeof count === 'number') countEl.textContent = String(count);
}

// `textContent` and text nodes, never `innerHTML`: what people type is shown as
// text, so nobody can inject markup or scripts into someone else's page.
function addChatLine(from, message, className) {
  const line = document.createElement('li');
  line.className = className;
  const who = document.createElement('strong');
  who.textContent = String(from);
  line.append(who, ': ', String(message));
  return addLine(line);
}

function addEventLine(text) {
  const line = document.createElement('li');
  line.className = 'event';
  line.textContent = text;
  return addLine(line);
}

function addLine(line) {
  messagesEl.append(line);
  line.scrollIntoView({ block: 'end' });
  return line;
}
