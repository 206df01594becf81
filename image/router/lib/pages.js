'use strict';
// The router's own pages: small, self-contained HTML (one inline style, no script, no external
// asset), UTF-8. Everything put into a page is HTML-escaped and hosts are cut to a bounded length.

const crypto = require('node:crypto');

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const MAX_SHOWN = 100;
const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}' +
  'main{max-width:34rem;margin:12vh auto;padding:0 1.25rem}h1{font-size:1.5rem;margin:0 0 1rem}' +
  '@media (prefers-color-scheme:dark){body{color:#eee;background:#181818}}';
// The page's one inline style is allowed by its hash; nothing else may load or run.
const CSP =
  `default-src 'none'; style-src 'sha256-${crypto.createHash('sha256').update(STYLE).digest('base64')}'; ` +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A host as shown on a page: bounded, then escaped. */
function shownHost(host) {
  return escapeHtml(host.length > MAX_SHOWN ? `${host.slice(0, MAX_SHOWN)}...` : host);
}

/** 2026-12-31 -> "31 December 2026" (the map's dates are validated YYYY-MM-DD). */
function readableDate(isoDate) {
  const [year, month, day] = isoDate.split('-').map(Number);
  return `${day} ${MONTHS[month - 1]} ${year}`;
}

/** Today's date in UTC as YYYY-MM-DD, comparable as a string with the map's dates. */
function todayUtc(now = new Date()) {
  return now.toISOString().slice(0, 10);
}

/** @returns {{ body: Buffer, headers: Record<string, string | number> }} `paragraphs` are already-escaped HTML. */
function page(title, paragraphs) {
  const html =
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">` +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>\n` +
    `<body><main><h1>${escapeHtml(title)}</h1>\n${paragraphs.map((p) => `<p>${p}</p>`).join('\n')}\n</main></body></html>\n`;
  const body = Buffer.from(html, 'utf8');
  return {
    body,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-store',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
  };
}

function suspended(host) {
  return page('This library is paused', [
    `The library at <strong>${shownHost(host)}</strong> is paused.`,
    'If it is yours, please check your billing details: the last payment may not have gone through. ' +
      'Once the payment is sorted out, the library opens again with all its books.',
  ]);
}

/** @param {string | null} exportUntil YYYY-MM-DD, or null when the map gives no export deadline */
function cancelled(host, exportUntil, today = todayUtc()) {
  const lines = [`The library at <strong>${shownHost(host)}</strong> was closed.`];
  if (exportUntil !== null) {
    const date = escapeHtml(readableDate(exportUntil));
    // The export window includes its last day.
    lines.push(
      exportUntil >= today
        ? `Its owner can ask for an export of their books until ${date}.`
        : `The export window for its books ended on ${date}.`,
    );
  }
  return page('This library has closed', lines);
}

function unknown(host) {
  return page('No library here', [`There is no library at <strong>${shownHost(host)}</strong>. Please check the address.`]);
}

function badRequest() {
  return page('Bad request', ['This request did not name a valid site address.']);
}

function loop() {
  return page('Loop detected', ['This request was already routed once and came back here; it is not routed again.']);
}

module.exports = { suspended, cancelled, unknown, badRequest, loop, escapeHtml, readableDate, todayUtc };
