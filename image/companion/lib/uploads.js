'use strict';
// The upload API: plan an upload (checks, then presigned URLs to a staging key), refresh part URLs,
// complete (check the staged object, copy it into books/ with the checked mark, bring it into the
// library), abort. A presigned URL cannot be revoked: it can write its staging key, with exactly the
// signed number of bytes, until it expires. So every upload is remembered until then, even after it is
// completed or aborted: its bytes count against the quota and whatever its URL wrote is deleted once the
// URL can no longer write (its "final" time). Memory only: after a restart the sweep of staging/ finds
// what is left (the final time is part of each staging key) and the page is told to add the book again.

const crypto = require('node:crypto');
const { checkName, checkType, numbered, Refusal } = require('./names');
const { matchesType, inspect } = require('./verify');
const { BOOKS_PREFIX, CHECKED_METADATA } = require('./layout');
const library = require('./library');

// The page sends two files at once; a few more allow a retry while an old one winds down.
const MAX_OPEN = 8;
// Uploads remembered at once, open or closed (a closed one waits up to 2 TTL for its URL to die): bounds
// the memory (a few hundred bytes each) and the work per plan of a reader who plans and aborts in a loop.
// Far above what a reader adding books meets (each plan takes tens of milliseconds); the page waits and
// tries again if it does.
const MAX_TRACKED = 4096;
// Part URLs handed out with the plan; the page asks for the others as it goes.
const PART_URLS_AHEAD = 3;

function humanBytes(bytes) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** The final time (ms) a staging key carries: <prefix><final seconds>-<random>; null if not ours. */
function finalAtOf(prefix, key) {
  const match = /^(\d{10,12})-[0-9a-f]{16}$/.exec(key.slice(prefix.length));
  return match ? Number(match[1]) * 1000 : null;
}

class Uploads {
  constructor({ config, s3, log, now = () => Date.now() }) {
    this.config = config;
    this.s3 = s3;
    this.log = log;
    this.now = now;
    // staging key -> {name, size, type, key, uploadId, partSize, partCount, open, completing, finalAt, timer}
    this.entries = new Map();
    this.sweeper = null;
    // Hashes of the library's books, for the duplicate check (library.sameBytes).
    this.hashes = new Map();
  }

  get ttlMs() {
    return this.config.presignTtlSeconds * 1000;
  }

  // A URL issued now can start a write until it expires; a write started then may take as long again.
  finalFromNow() {
    return this.now() + 2 * this.ttlMs;
  }

  schedule(entry) {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this.expire(entry), Math.max(0, entry.finalAt - this.now()));
    entry.timer.unref();
  }

  forget(entry) {
    clearTimeout(entry.timer);
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
  }

  /** Its URLs can no longer write: abort what was never completed, delete what they left. */
  async expire(entry) {
    if (this.entries.get(entry.key) !== entry) return;
    if (entry.completing) {
      // A completion is copying this object now: look again once it is done.
      entry.finalAt = this.now() + this.ttlMs;
      this.schedule(entry);
      return;
    }
    this.forget(entry);
    try {
      if (entry.uploadId) await this.s3.abortMultipart(entry.key, entry.uploadId);
      else await this.s3.remove(entry.key);
      this.log(`upload: ${entry.key} (${entry.name}) ${entry.open ? 'abandoned' : 'closed'}: its URLs expired, staging cleaned`);
    } catch (err) {
      // The sweep of staging/ and the bucket's lifecycle rule catch what this missed.
      this.log(`upload: ${entry.key} cleanup failed (${err.message}); the next sweep retries`);
    }
  }

  /** Start sweeping staging/ now and every TTL; returns a stop function. */
  startSweeping() {
    const run = () => {
      this.sweep().catch((err) => this.log(`sweep: ${err.message}`));
    };
    run();
    this.sweeper = setInterval(run, this.ttlMs);
    this.sweeper.unref();
    return () => clearInterval(this.sweeper);
  }

  /**
   * Deletes staging objects no URL can write any more and that no upload here knows (left by a
   * restart, or a PUT that raced its cleanup), and aborts multipart uploads under staging/ no upload here
   * knows: an aborted upload takes no more parts, so that is final at once.
   */
  async sweep() {
    let removed = 0;
    const prefix = this.config.stagingPrefix;
    for (const object of await this.s3.listObjects(prefix)) {
      if (this.entries.has(object.key)) continue;
      const finalAt = finalAtOf(prefix, object.key);
      if (finalAt !== null && finalAt > this.now()) continue;
      await this.s3.remove(object.key);
      removed++;
    }
    for (const upload of await this.s3.listMultipartUploads(prefix)) {
      const entry = this.entries.get(upload.key);
      if (entry && entry.uploadId === upload.uploadId) continue;
      await this.s3.abortMultipart(upload.key, upload.uploadId);
      removed++;
    }
    if (removed) this.log(`sweep: removed ${removed} staging object(s) or upload(s) nobody completed`);
  }

  openEntries() {
    return [...this.entries.values()].filter((entry) => entry.open);
  }

  async taken(name) {
    if (this.openEntries().some((entry) => entry.name === name)) return true;
    if (await library.exists(this.config.libraryPath, name)) return true;
    return (await this.s3.head(BOOKS_PREFIX + name)) !== null;
  }

  async suggestion(name) {
    for (let n = 2; n <= 20; n++) {
      const candidate = numbered(name, n);
      if (!(await this.taken(candidate))) return candidate;
    }
    return undefined;
  }

  /**
   * Bytes the bucket holds or may soon hold: everything stored (every prefix, pending parts too), plus
   * for each upload remembered here whatever its URLs may still write beyond what its key already holds.
   * Called with `stored` from S3.usage() and used with no await after it, so concurrent plans count
   * each other.
   */
  inFlight(stored) {
    let total = stored.total;
    for (const entry of this.entries.values()) total += Math.max(0, entry.size - (stored.byKey.get(entry.key) || 0));
    return total;
  }

  /** POST /_hosted/api/uploads {name, size, type} */
  async plan(body) {
    const name = checkName(body.name);
    const type = checkType(body.type, name);
    const size = body.size;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw new Refusal(400, 'The file size is missing or not a number.');
    if (size === 0) throw new Refusal(400, `"${name}" is empty.`);
    if (size > this.config.maxUploadBytes) {
      let [actual, limit] = [humanBytes(size), humanBytes(this.config.maxUploadBytes)];
      // "1.1 GB; at most 1.1 GB" would puzzle a reader: just over the limit shows bytes.
      if (actual === limit) [actual, limit] = [`${size} bytes`, `${this.config.maxUploadBytes} bytes`];
      throw new Refusal(413, `"${name}" is too large (${actual}): a book can be at most ${limit}.`);
    }
    this.checkRoom();
    if (await this.taken(name)) {
      throw new Refusal(409, `A book named "${name}" is already in your library.`, {
        suggestion: await this.suggestion(name),
      });
    }
    const quota = this.config.quotaBytes;
    const stored = quota === null ? null : await this.s3.usage();
    // Checked again after the awaits: two requests must not both get through.
    this.checkRoom();
    if (this.openEntries().some((entry) => entry.name === name)) {
      throw new Refusal(409, `A book named "${name}" is already being added.`);
    }
    if (stored !== null) {
      const used = this.inFlight(stored);
      if (used + size > quota) {
        throw new Refusal(
          507,
          `There is not enough room for "${name}" (${humanBytes(size)}): your plan holds ${humanBytes(quota)} ` +
            `and ${humanBytes(used)} is in use. Delete some books or change your plan.`,
        );
      }
    }
    const finalAt = this.finalFromNow();
    const key = `${this.config.stagingPrefix}${Math.ceil(finalAt / 1000)}-${crypto.randomBytes(8).toString('hex')}`;
    const entry = { name, size, type, key, uploadId: null, partSize: 0, partCount: 1, open: true, completing: false, finalAt, timer: null };
    this.entries.set(key, entry);
    this.schedule(entry);
    const ttl = this.config.presignTtlSeconds;
    try {
      if (size <= this.config.partBytes) {
        this.log(`upload: ${key} planned for ${name}, ${size} bytes, single PUT`);
        const headers = { 'Content-Length': String(size), 'Content-Type': type };
        return { key, name, method: 'PUT', url: this.s3.presign('PUT', key, {}, ttl, headers), contentType: type, expiresIn: ttl };
      }
      const partSize = Math.max(this.config.partBytes, Math.ceil(size / this.config.maxParts));
      entry.partSize = partSize;
      entry.partCount = Math.ceil(size / partSize);
      entry.uploadId = await this.s3.createMultipart(key, type);
      this.log(`upload: ${key} planned for ${name}, ${size} bytes, ${entry.partCount} parts of ${partSize}`);
      const first = Array.from({ length: Math.min(PART_URLS_AHEAD, entry.partCount) }, (_, i) => i + 1);
      return { key, name, uploadId: entry.uploadId, partSize, partCount: entry.partCount, parts: this.partUrls(entry, first), expiresIn: ttl };
    } catch (err) {
      this.forget(entry);
      throw err;
    }
  }

  checkRoom() {
    if (this.openEntries().length >= MAX_OPEN || this.entries.size >= MAX_TRACKED) {
      throw new Refusal(429, 'Too many books are being added at once. Wait for the others to finish, then try again.');
    }
  }

  partBytes(entry, partNumber) {
    return Math.min(entry.partSize, entry.size - (partNumber - 1) * entry.partSize);
  }

  partUrls(entry, numbers) {
    return numbers.map((partNumber) => ({
      partNumber,
      url: this.s3.presign(
        'PUT',
        entry.key,
        { partNumber: String(partNumber), uploadId: entry.uploadId },
        this.config.presignTtlSeconds,
        { 'Content-Length': String(this.partBytes(entry, partNumber)) },
      ),
    }));
  }

  lookup(body, wantMultipart) {
    const key = typeof body.key === 'string' ? body.key : '';
    const entry = this.entries.get(key);
    if (!entry || !entry.open || (wantMultipart && !entry.uploadId) || (body.uploadId !== undefined && body.uploadId !== entry.uploadId)) {
      throw new Refusal(404, 'This upload is not known any more (it may have expired). Please add the book again.');
    }
    return entry;
  }

  /** POST /_hosted/api/uploads/parts {key, uploadId, partNumbers}: URLs for the next parts. */
  refresh(body) {
    const entry = this.lookup(body, true);
    const numbers = Array.isArray(body.partNumbers) ? body.partNumbers : [];
    if (
      numbers.length === 0 ||
      numbers.length > PART_URLS_AHEAD ||
      !numbers.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= entry.partCount)
    ) {
      throw new Refusal(400, 'Those parts are not part of this upload.');
    }
    entry.finalAt = this.finalFromNow();
    this.schedule(entry);
    return { key: entry.key, parts: this.partUrls(entry, numbers), expiresIn: this.config.presignTtlSeconds };
  }

  /**
   * No more writes can come through this upload's URLs once it is closed and (multipart) its upload id
   * is gone; a single PUT's URL can still write until its final time, so that entry stays until then.
   */
  close(entry) {
    entry.open = false;
    if (!entry.uploadId && entry.multipart) this.forget(entry);
  }

  /** POST /_hosted/api/uploads/abort {key, uploadId?} */
  async abort(body) {
    const entry = this.lookup(body, false);
    if (entry.completing) throw new Refusal(409, `"${entry.name}" is already being finished.`);
    if (entry.uploadId) {
      await this.s3.abortMultipart(entry.key, entry.uploadId);
      entry.uploadId = null;
      entry.multipart = true;
    } else {
      await this.s3.remove(entry.key);
    }
    this.close(entry);
    this.log(`upload: ${entry.key} (${entry.name}) aborted`);
    return { key: entry.key, aborted: true };
  }

  /** POST /_hosted/api/uploads/complete {key, uploadId?} */
  async complete(body) {
    const entry = this.lookup(body, false);
    if (entry.completing) throw new Refusal(409, `"${entry.name}" is already being finished.`);
    entry.completing = true;
    try {
      return await this.finish(entry);
    } finally {
      entry.completing = false;
    }
  }

  async finish(entry) {
    const { name, size, type, key } = entry;
    if (entry.uploadId) {
      // The bucket's own list of parts, not the browser's: nothing the browser says is trusted here.
      const parts = await this.s3.listParts(key, entry.uploadId);
      const complete = parts.length === entry.partCount && parts.every((p, i) => p.partNumber === i + 1 && p.etag);
      if (!complete) {
        throw new Refusal(400, `"${name}" has not finished uploading (${parts.length} of ${entry.partCount} parts arrived).`);
      }
      await this.s3.completeMultipart(key, entry.uploadId, parts);
      entry.uploadId = null; // from here on it is an object, removed with DELETE
      entry.multipart = true;
    }
    const refuse = async (status, message, extra) => {
      await this.s3.remove(key).catch(() => {});
      this.close(entry);
      this.log(`upload: ${key} (${name}) refused after upload: ${message}`);
      throw new Refusal(status, message, extra);
    };
    const head = await this.s3.head(key);
    if (!head) throw new Refusal(400, `"${name}" has not finished uploading. Please add it again.`);
    if (head.size !== size) {
      await refuse(400, `"${name}" arrived with ${humanBytes(head.size)} instead of ${humanBytes(size)}; it was not added. Please try again.`);
    }
    // The whole object is read once: its first bytes for the type, its hash for the duplicate check.
    const seen = await inspect(await this.s3.getStream(key));
    if (seen.size !== size) {
      await refuse(400, `"${name}" arrived with ${humanBytes(seen.size)} instead of ${humanBytes(size)}; it was not added. Please try again.`);
    }
    if (!matchesType(type, seen.head)) {
      const kind = type === 'application/pdf' ? 'PDF' : 'EPUB';
      await refuse(415, `"${name}" is not a valid ${kind} file; it was not added.`);
    }
    // Alex skips a file whose SHA-256 it already holds: such a book would never appear, so its bytes are
    // not kept and the reader is told which book it repeats.
    const twin = await library.sameBytes(this.config.libraryPath, size, seen.sha256, this.hashes);
    if (twin !== null) {
      await refuse(409, `"${name}" is the same file as "${twin}", which is already in your library; it was not added again.`, {
        duplicateOf: twin,
      });
    }
    // The library is the truth, then books/: a book of that name that appeared meanwhile is kept.
    const bookKey = BOOKS_PREFIX + name;
    if ((await library.exists(this.config.libraryPath, name)) || (await this.s3.head(bookKey))) {
      await refuse(409, `A book named "${name}" is already in your library.`);
    }
    await this.s3.copy(key, bookKey, { contentType: type, metadata: { [CHECKED_METADATA.name]: CHECKED_METADATA.value } });
    await this.s3.remove(key);
    this.close(entry);
    this.log(`upload: ${key} checked and copied to ${bookKey}`);
    return this.ingest(bookKey, name, size);
  }

  async ingest(bookKey, name, size) {
    try {
      const head = await this.s3.head(bookKey);
      const source = await this.s3.getStream(bookKey);
      await library.ingest(this.config.libraryPath, name, source, size, head && head.lastModified);
    } catch (err) {
      if (err instanceof library.AlreadyThere) {
        // A file of that name appeared in the library during the download: it wins, in R2 too.
        await this.s3.remove(bookKey).catch(() => {});
        throw new Refusal(409, `A book named "${name}" is already in your library.`);
      }
      // The checked object is safe in books/ with its mark: the entrypoint's next sync pulls it in.
      this.log(`upload: ${bookKey} stored, not yet in the library (${err.message}); the next sync brings it in`);
      return { key: bookKey, name, size, ingested: false, message: `"${name}" is uploaded and will appear in your library within a few minutes.` };
    }
    if (this.config.uploadsMarkDir) {
      // Not fatal: without the mark the sync still sees the book on both sides; only a deletion
      // before that sync would bring it back.
      await library
        .mark(this.config.uploadsMarkDir, name)
        .catch((err) => this.log(`upload: ${bookKey} not marked for the sync (${err.code || err.message})`));
    }
    this.log(`upload: ${bookKey} added to the library, ${size} bytes`);
    return { key: bookKey, name, size, ingested: true, message: `"${name}" is in your library.` };
  }
}

module.exports = { Uploads, humanBytes, finalAtOf, MAX_OPEN, MAX_TRACKED };
