'use strict';
// Which Alex sessions the companion lets through. Alex 0.6.0's sessions are stateless: NextAuth v5 JWTs,
// encrypted with a key derived from NEXTAUTH_SECRET, valid 30 days, and re-issued (new iat, new jti) on
// every request that reads them. Signing out only clears the browser's cookie, and deleting a user only
// deletes the row, so Alex itself would still accept a copied cookie or a deleted user's cookie. The
// companion sees every request: it decrypts the token with the same secret and refuses (strips) it when
// the user's row is gone (a read-only lookup in Alex's database) or when the user signed out after the
// token was issued (lib/signouts.js). See README.md, "Sessions".

const crypto = require('node:crypto');
const fs = require('node:fs');
const { execFile } = require('node:child_process');

// NextAuth's own tolerance when it checks exp (jwtDecrypt's clockTolerance in @auth/core/jwt).
const CLOCK_TOLERANCE_SECONDS = 15;
// A session cookie is one value or a few chunks of at most 4 KB each (NextAuth's SessionStore).
const MAX_CHUNKS = 8;
const MAX_TOKEN_CHARS = 8 * 4096;
const MAX_USER_ID_CHARS = 200;
const LOOKUP_TIMEOUT_MS = 5000;
const MAX_CACHED_USERS = 1000;

class LookupError extends Error {}

function sessionCookieName(nextauthUrl) {
  // Alex pins the name: the __Secure- prefix exactly when NEXTAUTH_URL is https (src/lib/auth/cookies.ts).
  return `${nextauthUrl && nextauthUrl.protocol === 'https:' ? '__Secure-' : ''}authjs.session-token`;
}

/** Cookie pairs of a request, in order, as [name, value]; several Cookie headers are all read. */
function cookiePairs(req) {
  const pairs = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() !== 'cookie') continue;
    for (const part of req.rawHeaders[i + 1].split(';')) {
      const at = part.indexOf('=');
      if (at < 0) continue;
      pairs.push([part.slice(0, at).trim(), part.slice(at + 1).trim()]);
    }
  }
  return pairs;
}

/** The session token in a request (the cookie, or its chunks joined in order), or null. */
function sessionToken(pairs, name) {
  let whole = null;
  const chunks = [];
  for (const [key, value] of pairs) {
    if (key === name) whole = value;
    else if (key.startsWith(`${name}.`) && /^[0-9]{1,2}$/.test(key.slice(name.length + 1))) {
      chunks.push([Number(key.slice(name.length + 1)), value]);
    }
  }
  // NextAuth reads the chunks when there are any (SessionStore): so does this.
  if (chunks.length > 0) {
    if (chunks.length > MAX_CHUNKS) return null;
    chunks.sort((a, b) => a[0] - b[0]);
    whole = chunks.map(([, value]) => value).join('');
  }
  if (!whole || whole.length > MAX_TOKEN_CHARS) return null;
  return whole;
}

function isSessionCookie(key, name) {
  return key === name || (key.startsWith(`${name}.`) && /^[0-9]{1,2}$/.test(key.slice(name.length + 1)));
}

/**
 * The payload of an Auth.js session token (JWE, alg "dir", enc A256CBC-HS512, key = HKDF-SHA256 of the
 * secret with the cookie name as salt), or null when it is not one this secret made or it has expired.
 */
function decryptToken(token, key, nowSeconds) {
  const parts = token.split('.');
  if (parts.length !== 5 || parts[1] !== '') return null;
  const [protectedHeader, , ivText, cipherText, tagText] = parts;
  let header;
  try {
    header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!header || header.alg !== 'dir' || header.enc !== 'A256CBC-HS512' || header.zip !== undefined) return null;
  const iv = Buffer.from(ivText, 'base64url');
  const cipher = Buffer.from(cipherText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== 16 || tag.length !== 32 || cipher.length === 0 || cipher.length % 16 !== 0) return null;
  // RFC 7518 5.2.2: the tag is the first half of HMAC-SHA512(AAD || IV || ciphertext || AAD bit length).
  const aad = Buffer.from(protectedHeader, 'ascii');
  const bits = Buffer.alloc(8);
  bits.writeBigUInt64BE(BigInt(aad.length) * 8n);
  const mac = crypto.createHmac('sha512', key.subarray(0, 32)).update(aad).update(iv).update(cipher).update(bits).digest();
  if (!crypto.timingSafeEqual(mac.subarray(0, 32), tag)) return null;
  let payload;
  try {
    const decipher = crypto.createDecipheriv('aes-256-cbc', key.subarray(32), iv);
    payload = JSON.parse(Buffer.concat([decipher.update(cipher), decipher.final()]).toString('utf8'));
  } catch {
    return null;
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return null;
  if (typeof payload.exp !== 'number' || payload.exp + CLOCK_TOLERANCE_SECONDS <= nowSeconds) return null;
  if (typeof payload.iat !== 'number') return null;
  return payload;
}

/** Does a user id exist in Alex's users table? Asked read-only through the sqlite3 CLI (the image has it). */
class Users {
  constructor({ databasePath, sqlite3 = 'sqlite3' }) {
    this.databasePath = databasePath;
    this.sqlite3 = sqlite3;
    this.known = new Map();
    this.asking = new Map();
    this.stamp = null;
  }

  // The database and its WAL as they are now: any write (a user deleted) changes one of them, and then
  // every answer cached before is dropped. Reads (Alex polls the library every 2 s) change neither.
  currentStamp() {
    const parts = [];
    for (const file of [this.databasePath, `${this.databasePath}-wal`]) {
      try {
        const s = fs.statSync(file, { bigint: true });
        parts.push(`${s.ino}:${s.size}:${s.mtimeNs}`);
      } catch {
        parts.push('-');
      }
    }
    return parts.join('|');
  }

  async exists(id) {
    const stamp = this.currentStamp();
    if (stamp !== this.stamp) {
      this.known.clear();
      this.stamp = stamp;
    }
    if (this.known.has(id)) return this.known.get(id);
    if (this.asking.has(id)) return this.asking.get(id);
    const asked = this.ask(id).then(
      (found) => {
        this.asking.delete(id);
        if (this.stamp === stamp) {
          if (this.known.size >= MAX_CACHED_USERS) this.known.clear();
          this.known.set(id, found);
        }
        return found;
      },
      (err) => {
        this.asking.delete(id);
        throw err;
      },
    );
    this.asking.set(id, asked);
    return asked;
  }

  ask(id) {
    const quoted = `'${id.replace(/'/g, "''")}'`;
    const args = ['-readonly', '-batch', '-noheader', '-cmd', '.timeout 5000', this.databasePath,
      `SELECT count(*) FROM users WHERE id = ${quoted};`];
    return new Promise((resolve, reject) => {
      execFile(this.sqlite3, args, { timeout: LOOKUP_TIMEOUT_MS, maxBuffer: 4096 }, (err, stdout) => {
        const answer = String(stdout || '').trim();
        if (err || !/^[0-9]+$/.test(answer)) {
          reject(new LookupError(`reading users from ${this.databasePath} failed: ${err ? err.message.split('\n')[0] : 'no count'}`));
        } else {
          resolve(answer !== '0');
        }
      });
    });
  }
}

/**
 * Judges the session a request carries. `judge(req)` answers one of:
 *   {state: 'none'}                      no session cookie this secret made (Alex sees it as signed out too)
 *   {state: 'valid', userId, payload}    a live session of an existing user
 *   {state: 'refused', userId, reason}   a real token of a deleted or signed-out user: to be stripped
 * It throws LookupError when Alex's database cannot be read (the caller answers 502, never lets it by).
 */
class Sessions {
  constructor({ secret, nextauthUrl, users, signouts, now = () => Date.now() }) {
    this.cookieName = sessionCookieName(nextauthUrl);
    this.secure = this.cookieName.startsWith('__Secure-');
    this.key = Buffer.from(crypto.hkdfSync('sha256', secret, this.cookieName,
      `Auth.js Generated Encryption Key (${this.cookieName})`, 64));
    this.users = users;
    this.signouts = signouts;
    this.now = now;
  }

  async judge(req) {
    const pairs = cookiePairs(req);
    const token = sessionToken(pairs, this.cookieName);
    if (!token) return { state: 'none' };
    const payload = decryptToken(token, this.key, this.now() / 1000);
    if (!payload) return { state: 'none' };
    const userId = typeof payload.id === 'string' ? payload.id : payload.sub;
    if (typeof userId !== 'string' || userId === '' || userId.length > MAX_USER_ID_CHARS || /[\u0000-\u001f]/.test(userId)) {
      return { state: 'refused', userId: null, reason: 'names no user' };
    }
    if (this.signouts.revoked(userId, payload.iat)) return { state: 'refused', userId, reason: 'signed out' };
    if (!(await this.users.exists(userId))) return { state: 'refused', userId, reason: 'deleted' };
    return { state: 'valid', userId, payload };
  }

  /** The request's raw headers without its session cookie(s): what Alex gets for a refused session. */
  withoutSession(rawHeaders) {
    const out = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      if (rawHeaders[i].toLowerCase() !== 'cookie') {
        out.push(rawHeaders[i], rawHeaders[i + 1]);
        continue;
      }
      const kept = rawHeaders[i + 1].split(';').filter((part) => {
        const at = part.indexOf('=');
        return at < 0 || !isSessionCookie(part.slice(0, at).trim(), this.cookieName);
      });
      if (kept.some((part) => part.trim() !== '')) out.push(rawHeaders[i], kept.join(';').trim());
    }
    return out;
  }

  /** Set-Cookie values that delete the session cookie (and any chunks the request carried) in the browser. */
  clearing(req) {
    const names = new Set([this.cookieName]);
    for (const [key] of cookiePairs(req)) if (isSessionCookie(key, this.cookieName)) names.add(key);
    const flags = `Path=/; Max-Age=0; HttpOnly; SameSite=Lax${this.secure ? '; Secure' : ''}`;
    return [...names].map((name) => `${name}=; ${flags}`);
  }

  /** Does this answer's Set-Cookie give the browser a session (a sign-in)? */
  setsSession(setCookies) {
    return (setCookies || []).some((line) => {
      const at = line.indexOf('=');
      return at > 0 && isSessionCookie(line.slice(0, at).trim(), this.cookieName) && !this.clearsSession([line]);
    });
  }

  /** Does this answer's Set-Cookie delete the session cookie (how NextAuth's sign-out looks)? */
  clearsSession(setCookies) {
    return (setCookies || []).some((line) => {
      const at = line.indexOf('=');
      if (at < 0 || !isSessionCookie(line.slice(0, at).trim(), this.cookieName)) return false;
      const value = line.slice(at + 1).split(';')[0].trim();
      return value === '' || /;\s*max-age=0\s*(;|$)/i.test(line) || /;\s*expires=thu, 01 jan 1970/i.test(line);
    });
  }
}

module.exports = { Sessions, Users, LookupError, sessionCookieName, decryptToken };
