'use strict';
// The few things the companion changes in what Alex answers, each because Alex 0.6.0 cannot be told:
// - the library's pages get an "Add books" link to /_hosted/ (nothing in Alex links there);
// - a reader sent to sign in from /_hosted/ comes back to it (Alex's login page ignores callbackUrl and
//   always goes to /library), by a short-lived cookie the companion sets and reads itself;
// - a sign-out answer that points at NEXTAUTH_URL's hostname points at the hostname the reader uses.

const { Transform } = require('node:stream');

const HOSTED = '/_hosted/';
// Alex's library screens: where the link is added to a full page load.
const LIBRARY_PAGES = /^\/(library|collections)(\/|$)/;
// Where Alex's login page always sends a reader once signed in (src/app/(auth)/login/page.tsx).
const AFTER_SIGN_IN = '/library';
const RETURN_COOKIE = 'hosted-return';
const RETURN_SECONDS = 15 * 60;
// The opening <body> tag is in the first bytes Next sends; past this the page passes unchanged.
const MAX_SCAN_BYTES = 256 * 1024;
// What goes right after <body ...>: our stylesheet (Alex's CSP allows 'self') and the link. React 19
// skips elements it did not render in <body> when it hydrates, so the page's own script is untouched.
const ADD_BOOKS_HTML = Buffer.from(
  '<link rel="stylesheet" href="/_hosted/add-books.css">' +
  '<a id="hosted-add-books" class="hosted-add-books" href="/_hosted/">Add books</a>',
);
const MAX_JSON_BYTES = 64 * 1024;

function header(req, name) {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function cookieValue(req, name) {
  for (const part of (header(req, 'cookie') || '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}

// A full page load of one of the library's screens (not Next's in-app fetches of the same path).
function wantsAddBooks(req, pathname) {
  if (req.method !== 'GET' || !LIBRARY_PAGES.test(pathname)) return false;
  if (header(req, 'rsc') || header(req, 'next-router-prefetch')) return false;
  return /\btext\/html\b/.test(header(req, 'accept') || '');
}

/** Streams an HTML page with ADD_BOOKS_HTML right after its opening <body> tag. */
function addBooksLink() {
  let held = Buffer.alloc(0);
  let done = false;
  return new Transform({
    transform(chunk, _enc, callback) {
      if (done) {
        callback(null, chunk);
        return;
      }
      held = Buffer.concat([held, chunk]);
      const text = held.toString('latin1');
      const found = /<body\b[^>]*>/i.exec(text);
      if (found) {
        const at = found.index + found[0].length;
        done = true;
        callback(null, Buffer.concat([held.subarray(0, at), ADD_BOOKS_HTML, held.subarray(at)]));
      } else if (held.length > MAX_SCAN_BYTES) {
        done = true;
        callback(null, held);
      } else {
        callback();
      }
    },
    flush(callback) {
      callback(null, done ? undefined : held);
    },
  });
}

function secureFlag(nextauthUrl) {
  return nextauthUrl && nextauthUrl.protocol === 'https:' ? '; Secure' : '';
}

/** Set on the way to Alex's sign-in from /_hosted/: after signing in, come back here. */
function rememberReturn(nextauthUrl) {
  return `${RETURN_COOKIE}=1; Path=/; Max-Age=${RETURN_SECONDS}; HttpOnly; SameSite=Lax${secureFlag(nextauthUrl)}`;
}

function forgetReturn(nextauthUrl) {
  return `${RETURN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secureFlag(nextauthUrl)}`;
}

/**
 * Is this the request Alex's login page makes once signed in, by a reader who set out from /_hosted/?
 * The page navigates to /library (a full load, or Next's in-app fetch, which follows a redirect to a
 * non-Next page with a full load of it); a prefetch is not the reader going there.
 */
function returnsToHosted(req, pathname) {
  return req.method === 'GET' && pathname === AFTER_SIGN_IN && !header(req, 'next-router-prefetch')
    && cookieValue(req, RETURN_COOKIE) === '1';
}

/** The origin the reader is using, as the browser sees it (Fly's proxy terminates TLS). */
function readerOrigin(req, nextauthUrl) {
  const host = header(req, 'x-forwarded-host') || header(req, 'host');
  if (!host || !/^[a-z0-9.-]+(:[0-9]{1,5})?$/i.test(host)) return null;
  const forwarded = (header(req, 'x-forwarded-proto') || '').split(',')[0].trim();
  const proto = ['http', 'https'].includes(forwarded) ? forwarded : nextauthUrl.protocol.slice(0, -1);
  return `${proto}://${host.toLowerCase()}`;
}

/** `url` moved from NEXTAUTH_URL's origin to the reader's; anything else as it was. */
function onReaderHost(url, req, nextauthUrl) {
  if (typeof url !== 'string' || !nextauthUrl) return url;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const origin = readerOrigin(req, nextauthUrl);
  if (parsed.origin !== nextauthUrl.origin || !origin || origin === nextauthUrl.origin) return url;
  return origin + parsed.pathname + parsed.search + parsed.hash;
}

// NextAuth answers its own routes with a Location (a form post) or, to next-auth/react's fetch
// (X-Auth-Return-Redirect: 1), JSON {url}; both are built on NEXTAUTH_URL's origin.
function isAuthAnswer(pathname) {
  return pathname.startsWith('/api/auth/');
}

/** Reads a small JSON answer whole (bounded), moves its `url`, and gives the bytes to send. */
function rewriteJsonUrl(answer, req, nextauthUrl) {
  return new Promise((resolve) => {
    const chunks = [];
    let length = 0;
    let tooLong = false;
    answer.on('data', (chunk) => {
      length += chunk.length;
      if (length > MAX_JSON_BYTES) tooLong = true;
      else chunks.push(chunk);
    });
    answer.on('error', () => resolve(null));
    answer.on('end', () => {
      const body = Buffer.concat(chunks);
      if (tooLong) {
        resolve(null);
        return;
      }
      try {
        const value = JSON.parse(body.toString('utf8'));
        if (value && typeof value === 'object' && typeof value.url === 'string') {
          const moved = onReaderHost(value.url, req, nextauthUrl);
          if (moved !== value.url) {
            resolve(Buffer.from(JSON.stringify({ ...value, url: moved })));
            return;
          }
        }
      } catch {
        // not JSON: passed on as it came
      }
      resolve(body);
    });
  });
}

module.exports = {
  HOSTED,
  wantsAddBooks,
  addBooksLink,
  rememberReturn,
  forgetReturn,
  returnsToHosted,
  onReaderHost,
  isAuthAnswer,
  rewriteJsonUrl,
};
