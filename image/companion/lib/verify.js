'use strict';
// Is an uploaded object the kind of book it claims to be, and which bytes is it? One pass over the
// object gives its first bytes (the type check) and its SHA-256, the hash Alex's watcher keys books on
// (watcher-rs/src/handlers/add.rs: a file whose hash it already holds is skipped).

const crypto = require('node:crypto');
const { Writable } = require('node:stream');
const { pipeline } = require('node:stream/promises');

const HEAD_BYTES = 1024;
const EPUB_MIME = 'application/epub+zip';

function looksLikePdf(bytes) {
  return bytes.subarray(0, 5).toString('latin1') === '%PDF-';
}

// An EPUB is a ZIP whose first entry is a stored (uncompressed) file "mimetype" holding
// "application/epub+zip" (OCF 3.x); its local file header sits at offset 0.
function looksLikeEpub(bytes) {
  if (bytes.length < 30 || bytes.readUInt32LE(0) !== 0x04034b50) return false;
  const method = bytes.readUInt16LE(8);
  const size = bytes.readUInt32LE(18);
  const nameLength = bytes.readUInt16LE(26);
  const extraLength = bytes.readUInt16LE(28);
  const nameEnd = 30 + nameLength;
  if (method !== 0 || size !== EPUB_MIME.length || bytes.length < nameEnd + extraLength + size) return false;
  if (bytes.subarray(30, nameEnd).toString('latin1') !== 'mimetype') return false;
  const start = nameEnd + extraLength;
  return bytes.subarray(start, start + size).toString('latin1') === EPUB_MIME;
}

function matchesType(type, bytes) {
  if (type === 'application/pdf') return looksLikePdf(bytes);
  if (type === EPUB_MIME) return looksLikeEpub(bytes);
  return false;
}

/** Reads `source` (a readable) to its end: {head: its first HEAD_BYTES, sha256 (hex), size}. */
async function inspect(source) {
  const hash = crypto.createHash('sha256');
  const head = [];
  let headLength = 0;
  let size = 0;
  await pipeline(
    source,
    new Writable({
      write(chunk, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        if (headLength < HEAD_BYTES) {
          const piece = chunk.subarray(0, HEAD_BYTES - headLength);
          head.push(piece);
          headLength += piece.length;
        }
        done();
      },
    }),
  );
  return { head: Buffer.concat(head), sha256: hash.digest('hex'), size };
}

module.exports = { matchesType, inspect, HEAD_BYTES };
