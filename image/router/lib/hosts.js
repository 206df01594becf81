'use strict';
// The Host header, reduced to the form the map is keyed by: lowercase, no port, no trailing dot.
// Anything that cannot be a Host at all is null (the caller answers 400); anything that can but is
// not a known hostname (an IP literal, a name with odd characters) is kept, so it gets the 404 page.

const net = require('node:net');

// No DNS name is longer than 253 characters; with a port and a trailing dot, 260 covers every real one.
const MAX_HOST_LENGTH = 260;
// Visible ASCII only: whitespace, control characters and non-ASCII are never part of a Host.
const VISIBLE = /^[\x21-\x7e]+$/;
// Characters that end or split an authority; a Host carrying them is not a host.
const DELIMITERS = /[/\\?#@[\]]/;
const PORT = /^(:[0-9]{0,5})?$/;

/**
 * @param {string | undefined} raw the Host header as Node parsed it (surrounding whitespace trimmed)
 * @returns {string | null} the normalised host, or null when missing or malformed
 */
function normaliseHost(raw) {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_HOST_LENGTH || !VISIBLE.test(raw)) return null;
  const lowered = raw.toLowerCase();
  let host;
  let port;
  if (lowered.startsWith('[')) {
    // An IPv6 literal keeps its brackets, so its colons are not mistaken for a port.
    const end = lowered.indexOf(']');
    if (end < 0 || !net.isIPv6(lowered.slice(1, end))) return null;
    host = lowered.slice(0, end + 1);
    port = lowered.slice(end + 1);
  } else {
    const colon = lowered.indexOf(':');
    host = colon < 0 ? lowered : lowered.slice(0, colon);
    port = colon < 0 ? '' : lowered.slice(colon);
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host === '' || host.length > 253 || DELIMITERS.test(host)) return null;
  }
  return PORT.test(port) ? host : null;
}

module.exports = { normaliseHost };
