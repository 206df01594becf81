'use strict';
// Everything the companion says to Alex: the pass-through proxy and the "is this session signed in?"
// question. Streams both ways with no buffering and no timeout, so the library's server-sent events
// (/api/library/events) arrive event by event. At every boot the companion listens a second or two
// before Alex does; the request that woke a stopped machine is held until Alex answers (see whenReady).

const http = require('node:http');
const https = require('node:https');

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, never forwarded.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'proxy-authorization',
]);

const DOWN_PAGE =
  '<!doctype html><meta charset="utf-8"><title>Library unavailable</title>' +
  '<p>Your library is starting or not answering right now. Please try again in a moment.</p>\n';
const STARTING_PAGE =
  '<!doctype html><meta charset="utf-8"><title>Library still starting</title>' +
  '<p>Your library is taking longer than usual to start. Please reload this page in a minute.</p>\n';
// How often the companion asks whether Alex answers yet, until it first does.
const START_POLL_MS = 100;

function forwardable(rawHeaders) {
  const connectionListed = new Set();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === 'connection') {
      for (const token of rawHeaders[i + 1].split(',')) connectionListed.add(token.trim().toLowerCase());
    }
  }
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!HOP_BY_HOP.has(name) && !connectionListed.has(name)) out.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return out;
}

class Alex {
  constructor(url, { sessionTimeoutMs = 5000, startWaitMs = 30000, maxWaiting = 256 } = {}) {
    this.url = url;
    this.transport = url.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true });
    this.sessionTimeoutMs = sessionTimeoutMs;
    this.startWaitMs = startWaitMs;
    this.maxWaiting = maxWaiting;
    // Once Alex has answered it stays ready: Alex dying later stops the machine (image/entrypoint.sh).
    this.ready = false;
    this.waiters = new Set();
  }

  get waiting() {
    return this.waiters.size;
  }

  markReady() {
    if (this.ready) return;
    this.ready = true;
    for (const waiter of this.waiters) waiter(true);
  }

  /** Asks Alex every START_POLL_MS until it first answers; returns a function that stops asking. */
  watchStart() {
    let timer = null;
    let stopped = false;
    const poll = async () => {
      if (stopped || this.ready) return;
      if (await this.ping(1000)) this.markReady();
      else if (!stopped) timer = setTimeout(poll, START_POLL_MS);
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  /**
   * Resolves true once Alex answers, false after startWaitMs, at once when maxWaiting requests already
   * wait (bounded memory), or when `res` closes first (the visitor left).
   */
  whenReady(res) {
    if (this.ready) return Promise.resolve(true);
    if (this.waiters.size >= this.maxWaiting) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok) => {
        clearTimeout(timer);
        res.off('close', left);
        this.waiters.delete(done);
        resolve(ok);
      };
      const left = () => done(false);
      const timer = setTimeout(() => done(false), this.startWaitMs);
      res.on('close', left);
      this.waiters.add(done);
    });
  }

  target(pathAndQuery) {
    return {
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port || undefined,
      path: pathAndQuery,
      agent: this.agent,
    };
  }

  /**
   * Pipes the request to Alex and Alex's answer back, unchanged but for hop-by-hop headers. `rawHeaders`
   * replaces the request's (already without hop-by-hop ones); `adjust(answer, headers)` may resolve to
   * {headers, body} (a whole new body) or {headers, through} (a Transform the answer streams through).
   */
  proxy(req, res, { rawHeaders = null, adjust = null } = {}) {
    const headers = rawHeaders || forwardable(req.rawHeaders);
    const upstream = this.transport.request({ ...this.target(req.url), method: req.method, headers });
    upstream.on('response', async (answer) => {
      let out = { headers: forwardable(answer.rawHeaders) };
      if (adjust) {
        try {
          out = (await adjust(answer, out.headers)) || out;
        } catch {
          out = { failed: true };
        }
      }
      if (res.destroyed) {
        answer.resume();
        return;
      }
      if (out.failed) {
        answer.resume();
        res.writeHead(502, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(DOWN_PAGE);
        return;
      }
      res.writeHead(answer.statusCode, answer.statusMessage, out.headers);
      if (out.body) {
        res.end(out.body);
        return;
      }
      // An SSE answer is flushed chunk by chunk by pipe(); Nagle is off on Node's server sockets.
      const source = out.through ? answer.pipe(out.through) : answer;
      source.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', () => {
      if (res.headersSent) {
        res.destroy();
      } else if (!res.destroyed) {
        res.writeHead(502, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(DOWN_PAGE);
      }
    });
    // A closed tab must close its upstream too: each open SSE stream makes Alex poll its database.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  }

  /**
   * Alex's own answer to "who is signed in with these cookies?" (NextAuth's GET /api/auth/session):
   * {user} when signed in, null when not. Throws when Alex cannot be asked. Nothing is cached.
   */
  session(req) {
    const headers = { Accept: 'application/json' };
    for (const name of ['cookie', 'host', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for']) {
      if (req.headers[name]) headers[name] = req.headers[name];
    }
    return new Promise((resolve, reject) => {
      const ask = this.transport.request({ ...this.target('/api/auth/session'), method: 'GET', headers }, (answer) => {
        const chunks = [];
        let length = 0;
        answer.on('data', (chunk) => {
          length += chunk.length;
          if (length > 64 * 1024) ask.destroy(new Error('session answer too large'));
          else chunks.push(chunk);
        });
        answer.on('end', () => {
          if (answer.statusCode !== 200) {
            // NextAuth answers 200 for signed-out sessions too; anything else is Alex failing.
            reject(new Error(`session check answered HTTP ${answer.statusCode}`));
            return;
          }
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            resolve(body && typeof body === 'object' && body.user && typeof body.user === 'object' ? body.user : null);
          } catch {
            reject(new Error('session check answered something other than JSON'));
          }
        });
        answer.on('error', reject);
      });
      ask.setTimeout(this.sessionTimeoutMs, () => ask.destroy(new Error('session check timed out')));
      ask.on('error', reject);
      ask.end();
    });
  }

  /** Does Alex answer at all (for the health endpoint)? */
  ping(timeoutMs = 2000) {
    return new Promise((resolve) => {
      const ask = this.transport.request({ ...this.target('/api/auth/session'), method: 'GET' }, (answer) => {
        answer.resume();
        resolve(answer.statusCode < 500);
      });
      ask.setTimeout(timeoutMs, () => ask.destroy());
      ask.on('error', () => resolve(false));
      ask.end();
    });
  }
}

module.exports = { Alex, DOWN_PAGE, STARTING_PAGE, forwardable };
