'use strict';
// The tenant's companion: serves the upload page and its API under /_hosted/ on the tenant's own
// hostname and passes every other request to Alex. Sign-in is Alex's: each /_hosted/ page or API request
// asks Alex whether its cookies are a signed-in session; before that, every request's session is judged
// here too (lib/sessions.js), so a deleted or signed-out user's token reaches neither. See README.md.

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { load, ConfigError } = require('./lib/config');
const { S3, S3Error } = require('./lib/s3');
const { Alex, DOWN_PAGE, STARTING_PAGE, forwardable } = require('./lib/alex');
const { Uploads } = require('./lib/uploads');
const { Refusal } = require('./lib/names');
const { Sessions, Users, LookupError } = require('./lib/sessions');
const { Signouts } = require('./lib/signouts');
const pages = require('./lib/pages');

const PREFIX = '/_hosted/';
const MAX_JSON_BYTES = 64 * 1024;

function log(message) {
  process.stdout.write(`companion: ${message}\n`);
}

function loadAssets() {
  const dir = path.join(__dirname, 'page');
  const types = { 'index.html': 'text/html; charset=utf-8', 'upload.js': 'text/javascript; charset=utf-8', 'upload.css': 'text/css; charset=utf-8', 'add-books.css': 'text/css; charset=utf-8' };
  const assets = {};
  for (const [file, type] of Object.entries(types)) assets[file] = { body: fs.readFileSync(path.join(dir, file)), type };
  return assets;
}

function withoutHeaders(rawHeaders, names) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!names.includes(rawHeaders[i].toLowerCase())) out.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return out;
}

function sendJson(res, status, value) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    if (!/^application\/json\b/i.test(req.headers['content-type'] || '')) {
      reject(new Refusal(415, 'Send the request as JSON.'));
      return;
    }
    const chunks = [];
    let length = 0;
    // Too much is drained, not kept, so the client still reads the refusal (a reset would hide it).
    req.on('data', (chunk) => {
      length += chunk.length;
      if (length <= MAX_JSON_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (length > MAX_JSON_BYTES) {
        reject(new Refusal(413, 'That request is too large.'));
        return;
      }
      try {
        const value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
        resolve(value);
      } catch {
        reject(new Refusal(400, 'That request is not valid JSON.'));
      }
    });
    req.on('error', reject);
  });
}

// A cross-site page cannot POST JSON without a CORS preflight we never answer, and a browser always
// sends Origin on POST: one that is not this host is refused outright.
function sameOrigin(req) {
  const origin = req.headers.origin;
  if (!origin) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function createServer(config) {
  const assets = loadAssets();
  const s3 = new S3(config.r2);
  const alex = new Alex(config.alexUrl, { sessionTimeoutMs: config.sessionTimeoutMs, startWaitMs: config.alexStartWaitMs });
  const uploads = new Uploads({ config, s3, log });
  const signouts = new Signouts({ file: config.signoutsFile, log });
  const users = new Users({ databasePath: config.databasePath, sqlite3: config.sqlite3Bin });
  const sessions = new Sessions({ secret: config.nextauthSecret, nextauthUrl: config.nextauthUrl, users, signouts });
  // The page talks to this host and to the bucket's endpoint (presigned PUTs), nothing else.
  const pageHeaders = {
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'same-origin',
    'Content-Security-Policy':
      `default-src 'self'; connect-src 'self' ${config.r2.endpoint.origin}; img-src 'self' data:; ` +
      "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  };
  const api = {
    '/_hosted/api/uploads': (body) => uploads.plan(body),
    '/_hosted/api/uploads/parts': (body) => uploads.refresh(body),
    '/_hosted/api/uploads/complete': (body) => uploads.complete(body),
    '/_hosted/api/uploads/abort': (body) => uploads.abort(body),
  };

  async function hosted(req, res, pathname, verdict) {
    if (pathname === '/_hosted/healthz') {
      // Fly's check: healthy only when Alex answers too, so a machine still starting is not.
      const up = await alex.ping();
      if (up) alex.markReady();
      sendJson(res, up ? 200 : 503, { ok: up, alex: up, waiting: alex.waiting });
      return;
    }
    const asset = { '/_hosted/upload.js': 'upload.js', '/_hosted/upload.css': 'upload.css', '/_hosted/add-books.css': 'add-books.css' }[pathname];
    if (asset && (req.method === 'GET' || req.method === 'HEAD')) {
      // No secret in them: served without a session, like Alex's own /_next/ assets.
      res.writeHead(200, { ...pageHeaders, 'Content-Type': assets[asset].type, 'Content-Length': assets[asset].body.length });
      res.end(req.method === 'HEAD' ? undefined : assets[asset].body);
      return;
    }
    const isApi = pathname.startsWith('/_hosted/api/');
    if (!isApi && pathname !== PREFIX) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Not found\n');
      return;
    }
    if (!(await alex.whenReady(res))) {
      stillStarting(res, isApi);
      return;
    }
    let user;
    try {
      // A deleted or signed-out user's token is signed out here, whatever Alex would say of it.
      user = verdict.state === 'refused' ? null : await alex.session(req);
    } catch (err) {
      log(`session check failed: ${err.message}`);
      if (isApi) sendJson(res, 502, { error: 'Your library is not answering right now. Please try again in a moment.' });
      else {
        res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end('Your library is not answering right now. Please try again in a moment.\n');
      }
      return;
    }
    if (!user) {
      if (verdict.state === 'refused') res.setHeader('Set-Cookie', sessions.clearing(req));
      if (isApi) sendJson(res, 401, { error: 'You are signed out. Sign in again, then add your books.' });
      else {
        // Alex's login page ignores callbackUrl: the cookie brings the reader back here (lib/pages.js).
        res.appendHeader('Set-Cookie', pages.rememberReturn(config.nextauthUrl));
        res.writeHead(302, { Location: `/login?callbackUrl=${PREFIX}`, 'Cache-Control': 'no-store' });
        res.end();
      }
      return;
    }
    if (!isApi) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' });
        res.end();
        return;
      }
      res.writeHead(200, { ...pageHeaders, 'Content-Type': assets['index.html'].type, 'Content-Length': assets['index.html'].body.length });
      res.end(req.method === 'HEAD' ? undefined : assets['index.html'].body);
      return;
    }
    const handler = api[pathname];
    if (!handler) {
      sendJson(res, 404, { error: 'There is no such thing here.' });
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      sendJson(res, 405, { error: 'Use POST.' });
      return;
    }
    if (!sameOrigin(req)) {
      sendJson(res, 403, { error: 'This request did not come from your library\'s page.' });
      return;
    }
    try {
      sendJson(res, 200, await handler(await readJson(req)));
    } catch (err) {
      if (err instanceof Refusal) {
        sendJson(res, err.status, { error: err.message, ...err.extra });
      } else if (err instanceof S3Error) {
        log(`storage: ${err.message}`);
        sendJson(res, 502, { error: 'Your book storage is not answering right now. Please try again in a moment.' });
      } else {
        log(`error: ${err && err.message}`);
        sendJson(res, 500, { error: 'Something went wrong on our side. Please try again.' });
      }
    }
  }

  // After ALEX_START_WAIT_SECONDS without Alex: a page that says so, never the "unavailable" one.
  function stillStarting(res, isApi) {
    if (res.destroyed) return;
    if (isApi) {
      res.setHeader('Retry-After', '10');
      sendJson(res, 503, { error: 'Your library is taking longer than usual to start. Please try again in a minute.' });
      return;
    }
    res.writeHead(503, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'Retry-After': '10' });
    res.end(STARTING_PAGE);
  }

  // Everything outside /_hosted/ goes to Alex, with a refused session stripped (Alex would take it) and
  // the few answers lib/pages.js adjusts.
  function toAlex(req, res, pathname, verdict) {
    const refused = verdict.state === 'refused';
    const valid = verdict.state === 'valid';
    if (valid && pages.returnsToHosted(req, pathname)) {
      res.writeHead(303, { Location: PREFIX, 'Set-Cookie': pages.forgetReturn(config.nextauthUrl), 'Cache-Control': 'no-store' });
      res.end();
      return;
    }
    let rawHeaders = forwardable(req.rawHeaders);
    if (refused) rawHeaders = sessions.withoutSession(rawHeaders);
    const addBooks = valid && pages.wantsAddBooks(req, pathname);
    // The link goes into the HTML as it streams: asked for uncompressed, so it can be found.
    if (addBooks) rawHeaders = withoutHeaders(rawHeaders, ['accept-encoding']);
    const signingOut = valid && req.method === 'POST' && pathname === '/api/auth/signout';
    const authAnswer = config.nextauthUrl !== null && pathname.startsWith('/api/auth/');
    const adjust = async (answer, headers) => {
      let out = headers;
      // Unless Alex sets a new session itself (a sign-in by a browser still carrying the refused one).
      if (refused && !sessions.setsSession(answer.headers['set-cookie'])) {
        for (const line of sessions.clearing(req)) out.push('Set-Cookie', line);
      }
      if (signingOut && sessions.clearsSession(answer.headers['set-cookie'])) {
        await signouts.signOut(verdict.userId);
        log(`sessions: user ${verdict.userId} signed out; their earlier sessions are refused everywhere`);
      }
      if (authAnswer) {
        out = out.map((value, i) => (i % 2 === 1 && out[i - 1].toLowerCase() === 'location'
          ? pages.onReaderHost(value, req, config.nextauthUrl) : value));
        if (/^application\/json\b/i.test(answer.headers['content-type'] || '')) {
          const body = await pages.rewriteJsonUrl(answer, req, config.nextauthUrl);
          if (!body) throw new Error('auth answer too large');
          return { headers: [...withoutHeaders(out, ['content-length']), 'Content-Length', String(body.length)], body };
        }
      }
      if (addBooks && answer.statusCode === 200 && /^text\/html\b/i.test(answer.headers['content-type'] || '')) {
        return { headers: withoutHeaders(out, ['content-length', 'etag']), through: pages.addBooksLink() };
      }
      return { headers: out };
    };
    alex.proxy(req, res, { rawHeaders, adjust });
  }

  async function route(req, res) {
    const pathname = (req.url || '/').split('?')[0];
    if (pathname === '/_hosted') {
      res.writeHead(308, { Location: PREFIX });
      res.end();
      return;
    }
    let verdict;
    try {
      verdict = await sessions.judge(req);
    } catch (err) {
      if (!(err instanceof LookupError)) throw err;
      log(`sessions: ${err.message}`);
      if (pathname.startsWith('/api/') || pathname.startsWith(`${PREFIX}api/`)) {
        sendJson(res, 502, { error: 'Your library is not answering right now. Please try again in a moment.' });
      } else {
        res.writeHead(502, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(DOWN_PAGE);
      }
      return;
    }
    if (verdict.state === 'refused') log(`sessions: refused a session of user ${verdict.userId ?? '(none)'} (${verdict.reason})`);
    if (pathname.startsWith(PREFIX)) await hosted(req, res, pathname, verdict);
    else if (alex.ready) toAlex(req, res, pathname, verdict);
    else {
      // Alex listens a second or two after us at boot: the request that woke the machine waits for it.
      const ok = await alex.whenReady(res);
      if (res.destroyed) req.destroy();
      else if (ok) toAlex(req, res, pathname, verdict);
      else stillStarting(res, false);
    }
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((err) => {
      log(`error: ${err && err.message}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'Something went wrong on our side. Please try again.' });
      else res.destroy();
    });
  });
  // Long answers (SSE) and slow clients are the norm here: no whole-request deadline. Fly's proxy
  // keeps idle connections for 60 s, so ours stay open a little longer than that.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65000;
  server.headersTimeout = 66000;
  // Staging objects and multipart uploads nobody completed (a restart forgets what it issued) are swept
  // at start and every TTL.
  server.on('listening', () => {
    server.on('close', uploads.startSweeping());
    server.on('close', alex.watchStart());
  });
  return server;
}

function main() {
  let config;
  try {
    config = load();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`companion: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const server = createServer(config);
  server.listen(config.port, config.bind, () => {
    const quota = config.quotaBytes === null ? 'no quota' : `quota ${config.quotaBytes} bytes`;
    log(`listening on ${config.bind}:${server.address().port}, Alex at ${config.alexUrl.origin}, ${quota}`);
  });
  // Open SSE streams would hold close() forever: idle ones close now, everything within 3 s.
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { createServer };
