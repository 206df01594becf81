'use strict';
// The edge router: Fly's proxy sends it every request for the tenants' hostnames; it looks the Host
// up in the routing map and answers `fly-replay: app=<tenant app>`, and Fly's proxy replays the
// request to that app (starting its machine if stopped). It never proxies a body and holds no
// credentials. Paused and closed libraries, and unknown hosts, get a small page. See README.md.
// The health check (map size, digest, reload errors) answers only on its own port, which no Fly
// service exposes: Fly's machine checks connect to it directly; no tenant hostname ever reaches it.

const http = require('node:http');
const fs = require('node:fs');
const { loadMap, MapError } = require('./lib/map');
const { normaliseHost } = require('./lib/hosts');
const pages = require('./lib/pages');

const HEALTH = '/_edge/health';

function log(message) {
  process.stderr.write(`edge: ${message}\n`);
}

class ConfigError extends Error {}

function wholeNumber(env, name, fallback, min, max) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = /^(0|[1-9][0-9]*)$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw.slice(0, 40))}`);
  return value;
}

/** The router's settings, from the environment (README.md lists them). */
function settings(env = process.env) {
  const config = readSettings(env);
  if (config.healthPort === config.port) throw new ConfigError(`HEALTH_PORT must differ from PORT (${config.port}): the health check is never served where tenant traffic arrives`);
  return config;
}

function readSettings(env) {
  return {
    port: wholeNumber(env, 'PORT', 8080, 1, 65535),
    healthPort: wholeNumber(env, 'HEALTH_PORT', 8081, 1, 65535),
    // Unset: Node listens on :: where the machine has IPv6 (which takes IPv4 too), else 0.0.0.0.
    host: env.HOST || undefined,
    mapPath: env.EDGE_MAP || '/etc/alex-edge/map.json',
    watchMs: wholeNumber(env, 'EDGE_WATCH_MS', 2000, 0, 3600000),
    stopMs: wholeNumber(env, 'EDGE_STOP_MS', 10000, 0, 600000),
    accessLog: env.EDGE_ACCESS_LOG === '1',
  };
}

/** The current map, and the last reload's failure if the newest file was refused. */
class MapHolder {
  /** @param {string} path @param {import('./lib/map').RoutingMap} map */
  constructor(path, map) {
    this.path = path;
    this.current = map;
    /** @type {string | null} */
    this.reloadError = null;
  }

  reload(reason) {
    let next;
    try {
      next = loadMap(this.path);
    } catch (err) {
      // The old map still routes every host it knows: keep serving it, and say so on the health check.
      this.reloadError = err instanceof MapError ? err.message : `map ${this.path}: ${err && err.message}`;
      log(`reload on ${reason} refused, still serving digest ${this.current.digest}: ${this.reloadError}`);
      return;
    }
    // The swap is this one assignment; a request already running keeps the map it read.
    this.current = next;
    this.reloadError = null;
    log(`reloaded on ${reason}: ${next.hosts.size} hosts, digest ${next.digest}`);
  }
}

function send(req, res, status, { body, headers }, extra = {}) {
  res.writeHead(status, { ...headers, ...extra });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function health(holder, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
    res.end();
    return;
  }
  const map = holder.current;
  const body = Buffer.from(
    JSON.stringify({ ok: true, hosts: map.hosts.size, digest: map.digest, loadedAt: map.loadedAt, reloadError: holder.reloadError }),
  );
  send(req, res, 200, { body, headers: { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store' } });
}

/** The health port's only answer: the health check at HEALTH, whatever the Host; 404 for any other path. */
function healthRoute(holder, req, res) {
  if ((req.url || '').split('?')[0] === HEALTH) {
    health(holder, req, res);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 10, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : 'Not found\n');
}

/** @returns {[number, string | null]} the status sent and the app replayed to, for the access log */
function route(holder, req, res) {
  // Every path is the tenant's, `/_edge/health` included: operator data is on the health port only.
  // Fly adds fly-replay-src to a replayed request: reaching us means a replay came back here (a map
  // entry naming this app, say). Replaying again would loop.
  if (req.headers['fly-replay-src'] !== undefined) {
    send(req, res, 508, pages.loop());
    return [508, null];
  }
  const host = normaliseHost(req.headers.host);
  if (host === null) {
    send(req, res, 400, pages.badRequest());
    return [400, null];
  }
  const entry = holder.current.hosts.get(host);
  if (entry === undefined) {
    send(req, res, 404, pages.unknown(host));
    return [404, null];
  }
  if (entry.state === 'suspended') {
    send(req, res, 503, pages.suspended(host), { 'retry-after': '3600' });
    return [503, entry.app];
  }
  if (entry.state === 'cancelled') {
    send(req, res, 410, pages.cancelled(host, entry.exportUntil));
    return [410, entry.app];
  }
  // Fly's proxy consumes this answer and replays the request; nobody sees the empty 200.
  res.writeHead(200, { 'fly-replay': entry.replay, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
  return [200, entry.app];
}

/** An HTTP server whose `handle` throwing is a 500, never a crash; `handle` returns the access-log outcome. */
function boundedServer(handle) {
  const server = http.createServer(
    // Our 400 page for a missing Host, not Node's bare one; timeouts checked every 5 s, not 30.
    { requireHostHeader: false, connectionsCheckingInterval: 5000 },
    (req, res) => {
      try {
        handle(req, res);
      } catch (err) {
        log(`error: ${err && err.message}`);
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
          res.end('Something went wrong.\n');
        } else res.destroy();
      }
    },
  );
  // Only headers matter here (a body is never read), so slow clients get little time. Fly's proxy
  // keeps idle connections to the machine for 60 s: ours stay open a little longer than that.
  server.headersTimeout = 10000;
  server.requestTimeout = 30000;
  server.keepAliveTimeout = 65000;
  return server;
}

/** The public server: every tenant hostname, on PORT. @param {MapHolder} holder */
function createServer(holder, { accessLog = false } = {}) {
  return boundedServer((req, res) => {
    const outcome = route(holder, req, res);
    if (accessLog) {
      const host = normaliseHost(req.headers.host);
      log(`${req.method} ${host === null ? '-' : host.slice(0, 100)} ${outcome[0]} ${outcome[1] || '-'}`);
    }
  });
}

/** The health server, on HEALTH_PORT: no Fly service exposes it; Fly's machine checks connect to it. */
function createHealthServer(holder) {
  return boundedServer((req, res) => healthRoute(holder, req, res));
}

function main() {
  let config;
  let holder;
  try {
    config = settings();
    holder = new MapHolder(config.mapPath, loadMap(config.mapPath));
  } catch (err) {
    if (!(err instanceof ConfigError) && !(err instanceof MapError)) throw err;
    log(`cannot start: ${err.message}`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
  const server = createServer(holder, config);
  const healthServer = createHealthServer(holder);
  const where = (listening) => {
    const { address, port, family } = listening.address();
    return `${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  };
  let listening = 0;
  for (const [listener, port] of [[server, config.port], [healthServer, config.healthPort]]) {
    listener.on('error', (err) => {
      log(`cannot listen on ${config.host || '*'}:${port}: ${err.code || err.message}`);
      process.exit(1);
    });
    listener.listen(port, config.host, () => {
      listening += 1;
      if (listening < 2) return;
      log(`listening on ${where(server)}: ${holder.current.hosts.size} hosts from ${config.mapPath}, digest ${holder.current.digest}; health check on ${where(healthServer)}`);
    });
  }

  process.on('SIGHUP', () => holder.reload('SIGHUP'));
  if (config.watchMs > 0) {
    // stat polling (not fs.watch): it follows the path across the writer's rename-into-place.
    fs.watchFile(config.mapPath, { interval: config.watchMs, persistent: false }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) holder.reload('file change');
    });
  }

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping; requests in flight finish first (at most ${config.stopMs} ms)`);
    fs.unwatchFile(config.mapPath);
    // A stopping router is not healthy: its check fails at once, so nothing waits on it.
    healthServer.close();
    healthServer.closeAllConnections();
    server.close(() => {
      log('stopped');
      process.exit(0);
    });
    // A keep-alive connection turns idle when its last request ends: close each as it does.
    server.closeIdleConnections();
    setInterval(() => server.closeIdleConnections(), 50);
    setTimeout(() => {
      log(`still busy after ${config.stopMs} ms: closing the remaining connections`);
      server.closeAllConnections();
      process.exit(0);
    }, config.stopMs).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) main();

module.exports = { createServer, createHealthServer, MapHolder, settings, route };
