'use strict';
// Bringing a verified object from R2 into the library folder, where Alex's watcher indexes it.
// The bytes land in a hidden temp file in the same folder (same filesystem, and the watcher skips
// dotfiles and names without .pdf/.epub), then are linked to the final name: link() fails when the
// name exists, so an existing book is never overwritten, even by a race.

const fs = require('node:fs');
const fsp = require('node:fs/promises');
const path = require('node:path');
const crypto = require('node:crypto');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');

async function exists(libraryPath, name) {
  try {
    await fsp.lstat(path.join(libraryPath, name));
    return true;
  } catch (err) {
    if (err.code === 'ENOENT') return false;
    throw err;
  }
}

class AlreadyThere extends Error {}

/** Streams `source` (a readable) into libraryPath/name; checks the byte count; keeps the mtime given. */
async function ingest(libraryPath, name, source, expectedSize, mtime) {
  const temp = path.join(libraryPath, `.hosted-upload-${crypto.randomBytes(6).toString('hex')}.part`);
  let written = 0;
  // Counted in the pipeline, not with a 'data' listener: that would switch the source to flowing
  // mode and defeat back-pressure.
  const count = new Transform({
    transform(chunk, _encoding, done) {
      written += chunk.length;
      done(null, chunk);
    },
  });
  try {
    const out = fs.createWriteStream(temp, { flags: 'wx', mode: 0o644 });
    await pipeline(source, count, out);
    if (written !== expectedSize) throw new Error(`short download (${written} of ${expectedSize} bytes)`);
    const handle = await fsp.open(temp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The object's own time: the backup's rclone then sees the library file and books/<name> as equal.
    if (mtime) await fsp.utimes(temp, mtime, mtime);
    try {
      await fsp.link(temp, path.join(libraryPath, name));
    } catch (err) {
      if (err.code === 'EEXIST') throw new AlreadyThere(name);
      throw err;
    }
  } finally {
    await fsp.rm(temp, { force: true });
  }
}

/**
 * Tells the entrypoint's next sync that `name` is now in the library: a file <id>.key holding the
 * book's key, written under a temp name and renamed, so the sync never reads half a mark. With it, a
 * book deleted before any sync saw it counts as a deletion, not as a new book in R2 to pull back.
 */
async function mark(markDir, name) {
  const id = `${Date.now()}-${crypto.randomBytes(6).toString('hex')}`;
  const temp = path.join(markDir, `.${id}.tmp`);
  try {
    await fsp.writeFile(temp, `${name}\n`, { flag: 'wx', mode: 0o644 });
    await fsp.rename(temp, path.join(markDir, `${id}.key`));
  } finally {
    await fsp.rm(temp, { force: true });
  }
}

module.exports = { exists, ingest, mark, AlreadyThere };
