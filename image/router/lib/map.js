'use strict';
// The routing map: read (plain or gzip-compressed JSON, told apart by the gzip magic bytes), validated
// strictly, and turned into a Map for O(1) lookup. The program writes it; a map this code refuses is
// a bug on that side, so each refusal names the file and the first problem in one bounded line.

const fs = require('node:fs');
const zlib = require('node:zlib');

const VERSION = 1;
// Far above any real map (10,000 tenants is under 1 MB of JSON); a bound so a bad file cannot eat the memory.
const MAX_BYTES = 64 * 1024 * 1024;
const APP = /^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$/;
// Labels of 1 to 63 letters, digits and inner hyphens, joined by dots (one regex: no split per host).
const DNS_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const STATES = new Set(['suspended', 'cancelled']);
const TOP_KEYS = new Set(['version', 'digest', 'hosts']);
const ENTRY_KEYS = new Set(['app', 'state', 'exportUntil']);

class MapError extends Error {}

/**
 * @typedef {{ app: string, state: 'active' | 'suspended' | 'cancelled', exportUntil: string | null, replay: string }} Entry
 * @typedef {{ hosts: Map<string, Entry>, digest: string, loadedAt: string }} RoutingMap
 */

/** A value for an error line: JSON-quoted and cut short, so a hostile map cannot flood the log. */
function quote(value) {
  if (value === undefined) return 'none';
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') return Array.isArray(value) ? 'an array' : 'an object';
  const text = value.length > 80 ? `${value.slice(0, 80)}...` : value;
  return JSON.stringify(text);
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A lowercase ASCII DNS name without a trailing dot (punycode for international names). */
function isDnsName(name) {
  return name.length <= 253 && DNS_NAME.test(name);
}

/** YYYY-MM-DD naming a real calendar day (2026-02-30 is refused). */
function isDate(text) {
  const match = DATE.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function unknownKey(object, allowed) {
  return Object.keys(object).find((key) => !allowed.has(key));
}

/** @returns {Entry} */
function entry(host, value) {
  // Built only on failure: quoting every host of a large map would double the load time.
  const refuse = (problem) => new MapError(`host ${quote(host)}: ${problem}`);
  if (!isObject(value)) throw refuse(`must be an object, got ${quote(value)}`);
  const extra = unknownKey(value, ENTRY_KEYS);
  if (extra !== undefined) throw refuse(`unknown key ${quote(extra)}`);
  if (typeof value.app !== 'string' || !APP.test(value.app)) throw refuse(`app ${quote(value.app)} is not a Fly app name`);
  let state = 'active';
  if (value.state !== undefined) {
    // One spelling per meaning: an active tenant has no state at all.
    if (!STATES.has(value.state)) throw refuse(`unknown state ${quote(value.state)} (leave it out when active; else suspended or cancelled)`);
    state = value.state;
  }
  let exportUntil = null;
  if (state === 'cancelled') {
    // Optional: a closed library without a known export deadline still gets its page.
    if (value.exportUntil !== undefined) {
      if (typeof value.exportUntil !== 'string' || !isDate(value.exportUntil)) throw refuse(`exportUntil ${quote(value.exportUntil)} is not a YYYY-MM-DD date`);
      exportUntil = value.exportUntil;
    }
  } else if (value.exportUntil !== undefined) {
    throw refuse('exportUntil is only for cancelled hosts');
  }
  // The header value is built once here, not per request.
  return Object.freeze({ app: value.app, state, exportUntil, replay: `app=${value.app}` });
}

/**
 * @param {Buffer} bytes the file's contents
 * @returns {RoutingMap}
 */
function parseMap(bytes) {
  let raw = bytes;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = zlib.gunzipSync(raw, { maxOutputLength: MAX_BYTES });
    } catch (err) {
      throw new MapError(`not valid gzip (${String(err.message).slice(0, 80)})`);
    }
  }
  let doc;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (err) {
    throw new MapError(`not JSON (${String(err.message).slice(0, 80)})`);
  }
  if (!isObject(doc)) throw new MapError(`must be a JSON object, got ${quote(doc)}`);
  const extra = unknownKey(doc, TOP_KEYS);
  if (extra !== undefined) throw new MapError(`unknown key ${quote(extra)}`);
  if (doc.version !== VERSION) throw new MapError(`version must be ${VERSION}, got ${quote(doc.version)}`);
  if (typeof doc.digest !== 'string' || doc.digest.length === 0 || doc.digest.length > 256 || /[\x00-\x1f\x7f]/.test(doc.digest)) {
    throw new MapError(`digest must be a non-empty string of at most 256 printable characters, got ${quote(doc.digest)}`);
  }
  if (!isObject(doc.hosts)) throw new MapError(`hosts must be an object, got ${quote(doc.hosts)}`);
  const hosts = new Map();
  for (const [host, value] of Object.entries(doc.hosts)) {
    if (!isDnsName(host)) throw new MapError(`host ${quote(host)} is not a lowercase DNS name without a trailing dot`);
    hosts.set(host, entry(host, value));
  }
  return { hosts, digest: doc.digest, loadedAt: new Date().toISOString() };
}

/**
 * Reads and validates the map at `file`. Synchronous on purpose: the swap that follows is one
 * assignment, and no request can see a half-built map.
 * @returns {RoutingMap}
 */
function loadMap(file) {
  let bytes;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_BYTES) throw new MapError(`is ${size} bytes, over the ${MAX_BYTES} byte limit`);
    bytes = fs.readFileSync(file);
  } catch (err) {
    if (err instanceof MapError) throw new MapError(`map ${file}: ${err.message}`);
    throw new MapError(`map ${file}: cannot be read (${err.code || err.message})`);
  }
  try {
    return parseMap(bytes);
  } catch (err) {
    if (err instanceof MapError) throw new MapError(`map ${file}: ${err.message}`);
    throw err;
  }
}

module.exports = { loadMap, parseMap, MapError, isDate };
