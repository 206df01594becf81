'use strict';
// The companion's settings, read once from the environment. A malformed or missing required value
// stops the start with one line naming the variable: these come from the Tenant component and the
// machine's secrets, so a wrong one is a deployment bug that must be loud, not a silent default.

const MiB = 1024 * 1024;
// S3 and R2 refuse parts under 5 MiB (except the last); R2 wants equal parts, which we always use.
const MIN_PART_BYTES = 5 * MiB;
const MAX_PARTS = 10000;
// `complete` copies the checked object into books/ with one CopyObject, which S3 and R2 cap at 5 GiB.
const MAX_UPLOAD_BYTES = 5 * 1024 * MiB;
// A presigned URL can write until it expires, and a PUT started just before then may still be running:
// 5 minutes lets a slow connection send one part (8 MiB, three at once: about 3.4 minutes at 1 Mbit/s)
// while keeping short the time a URL stays usable after its upload is finished. The page fetches each
// part's URL just before sending it, so a long upload needs no long-lived URL.
const DEFAULT_PRESIGN_TTL_SECONDS = 300;

const { STAGING_PREFIX } = require('./layout');

class ConfigError extends Error {}

function wholeNumber(env, name, fallback, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^(0|[1-9][0-9]*)$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got ${JSON.stringify(raw.slice(0, 40))}`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${raw}`);
  }
  return value;
}

function httpUrl(env, name, fallback) {
  const raw = env[name] === undefined || env[name] === '' ? fallback : env[name];
  if (raw === undefined) throw new ConfigError(`${name} is not set`);
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a URL`);
  }
  // Credentials in a URL would end up in logs and in the page's CSP header.
  if (!['http:', 'https:'].includes(url.protocol) || url.username || url.password || url.search || url.hash) {
    throw new ConfigError(`${name} must be a plain http(s) URL without credentials, query or fragment`);
  }
  return url;
}

function required(env, name) {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`${name} is not set`);
  return value;
}

// A prefix such as staging/: presigned URLs write nowhere else (image/entrypoint.sh sets it).
function stagingPrefix(env) {
  const value = env.UPLOAD_STAGING_PREFIX;
  if (value === undefined || value === '') return STAGING_PREFIX;
  if (!/^[a-z0-9][a-z0-9-]{0,30}\/$/.test(value) || ['books/', 'covers/', 'db/', 'deleted/', 'exports/', 'status/'].includes(value)) {
    throw new ConfigError('UPLOAD_STAGING_PREFIX must be a folder of its own such as staging/');
  }
  return value;
}

function load(env = process.env) {
  const r2Endpoint = httpUrl(env, 'R2_ENDPOINT');
  const bucket = required(env, 'R2_BUCKET');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError('R2_BUCKET is not a valid bucket name');
  const partBytes = wholeNumber(env, 'UPLOAD_PART_BYTES', 8 * MiB, { min: MIN_PART_BYTES, max: 5 * 1024 * MiB });
  const quotaRaw = env.STORAGE_QUOTA_BYTES;
  return {
    port: wholeNumber(env, 'COMPANION_PORT', 3000, { min: 1, max: 65535 }),
    bind: env.COMPANION_BIND || '0.0.0.0',
    alexUrl: httpUrl(env, 'ALEX_URL', 'http://127.0.0.1:3001'),
    r2: {
      endpoint: r2Endpoint,
      bucket,
      accessKeyId: required(env, 'R2_ACCESS_KEY_ID'),
      secretAccessKey: required(env, 'R2_SECRET_ACCESS_KEY'),
      region: env.R2_REGION || 'auto',
    },
    libraryPath: required(env, 'LIBRARY_PATH'),
    stagingPrefix: stagingPrefix(env),
    // Where the entrypoint's sync learns which books an upload put in the library (image/README.md).
    uploadsMarkDir: env.HOSTED_UPLOADS_DIR || null,
    // Unset means no quota (a self-run image); the Tenant component always sets it from the plan.
    quotaBytes: quotaRaw === undefined || quotaRaw === '' ? null : wholeNumber(env, 'STORAGE_QUOTA_BYTES', null, { min: 0 }),
    maxUploadBytes: wholeNumber(env, 'UPLOAD_MAX_BYTES', 1024 * MiB, { min: 1, max: MAX_UPLOAD_BYTES }),
    presignTtlSeconds: wholeNumber(env, 'PRESIGN_TTL_SECONDS', DEFAULT_PRESIGN_TTL_SECONDS, { min: 60, max: 3600 }),
    partBytes,
    maxParts: MAX_PARTS,
    sessionTimeoutMs: 5000,
    // How long a request waits for Alex at boot (it listens a second or two after the companion).
    alexStartWaitMs: wholeNumber(env, 'ALEX_START_WAIT_SECONDS', 30, { min: 1, max: 300 }) * 1000,
    // Alex's own: the companion decrypts its session tokens with the secret (lib/sessions.js), names the
    // cookie and finds the primary hostname from the URL, and asks the database whether a user exists.
    nextauthSecret: required(env, 'NEXTAUTH_SECRET'),
    nextauthUrl: env.NEXTAUTH_URL ? httpUrl(env, 'NEXTAUTH_URL') : null,
    databasePath: required(env, 'DATABASE_PATH'),
    sqlite3Bin: env.SQLITE3_BIN || 'sqlite3',
    // Who signed out, kept across restarts (image/entrypoint.sh puts it on the volume); unset = memory.
    signoutsFile: env.HOSTED_SIGNOUTS_FILE || null,
  };
}

module.exports = { load, ConfigError, MIN_PART_BYTES };
