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

// The files Alex's watcher indexes (watcher-rs/src/watcher.rs): .pdf and .epub, any case, at any depth.
const BOOK_FILE = /\.(pdf|epub)$/i;

/** Paths (relative to libraryPath) and sizes of the book files in the library; symlinks are not followed. */
async function bookFiles(libraryPath, folder = '') {
  const found = [];
  let entries;
  try {
    entries = await fsp.readdir(path.join(libraryPath, folder), { withFileTypes: true });
  } catch (err) {
    if (err.code === 'ENOENT') return found; // gone meanwhile, or the volume is not mounted
    throw err;
  }
  for (const entry of entries) {
    const relative = path.join(folder, entry.name);
    if (entry.isDirectory()) found.push(...(await bookFiles(libraryPath, relative)));
    else if (entry.isFile() && BOOK_FILE.test(entry.name)) found.push(relative);
  }
  return found;
}

async function sha256File(file) {
  const hash = crypto.createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * The library's book with exactly these bytes (the name Alex would skip a new file for), or null. Only
 * files of the same size are hashed, and each hash is kept in `cache` (path -> {size, mtimeMs, sha256})
 * until the file changes, so a check costs a listing and, rarely, one read of a same-sized book.
 */
async function sameBytes(libraryPath, size, sha256, cache) {
  for (const relative of await bookFiles(libraryPath)) {
    const file = path.join(libraryPath, relative);
    let stat;
    try {
      stat = await fsp.stat(file);
    } catch (err) {
      if (err.code === 'ENOENT') continue; // deleted meanwhile
      throw err;
    }
    if (stat.size !== size) continue;
    let known = cache.get(file);
    if (!known || known.size !== stat.size || known.mtimeMs !== stat.mtimeMs) {
      known = { size: stat.size, mtimeMs: stat.mtimeMs, sha256: await sha256File(file) };
      cache.set(file, known);
    }
    if (known.sha256 === sha256) return relative;
  }
  return null;
}

module.exports = { exists, ingest, mark, sameBytes, AlreadyThere };
