'use strict';
// The upload API: plan an upload (checks, then presigned URLs), refresh part URLs, complete (verify,
// then ingest into the library), abort. Uploads in flight are remembered in memory only: they hold
// their bytes against the quota until completed, aborted or expired, so several files at once cannot
// overshoot the plan together. A restart forgets them; the browser is then told to add the book again.

const { checkName, checkType, numbered, Refusal } = require('./names');
const { matchesType, HEAD_BYTES } = require('./verify');
const library = require('./library');

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

class Uploads {
  constructor({ config, s3, log }) {
    this.config = config;
    this.s3 = s3;
    this.log = log;
    this.pending = new Map(); // key -> {name, size, type, uploadId, partSize, partCount, expires, timer}
  }

  reservedBytes() {
    let total = 0;
    for (const entry of this.pending.values()) total += entry.size;
    return total;
  }

  touch(key, entry) {
    clearTimeout(entry.timer);
    // Part URLs are refreshed while an upload runs, so twice their lifetime idle means abandoned.
    const idleMs = this.config.presignTtlSeconds * 2000;
    entry.timer = setTimeout(() => this.expire(key, entry), idleMs);
    entry.timer.unref();
  }

  async expire(key, entry) {
    if (this.pending.get(key) !== entry) return;
    this.pending.delete(key);
    this.log(`upload: ${key} abandoned, reservation released`);
    if (entry.uploadId) await this.s3.abortMultipart(key, entry.uploadId).catch(() => {});
  }

  async taken(name) {
    const key = `books/${name}`;
    if (this.pending.has(key)) return true;
    if (await library.exists(this.config.libraryPath, name)) return true;
    return (await this.s3.head(key)) !== null;
  }

  async suggestion(name) {
    for (let n = 2; n <= 20; n++) {
      const candidate = numbered(name, n);
      if (!(await this.taken(candidate))) return candidate;
    }
    return undefined;
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
    const key = `books/${name}`;
    if (await this.taken(name)) {
      throw new Refusal(409, `A book named "${name}" is already in your library.`, {
        suggestion: await this.suggestion(name),
      });
    }
    const quota = this.config.quotaBytes;
    if (quota !== null) {
      const used = (await this.s3.totalBytes()) + this.reservedBytes();
      if (used + size > quota) {
        throw new Refusal(
          507,
          `There is not enough room for "${name}" (${humanBytes(size)}): your plan holds ${humanBytes(quota)} ` +
            `and ${humanBytes(used)} is in use. Delete some books or change your plan.`,
        );
      }
    }
    // Checked again after the awaits: two requests for one name must not both get through.
    if (this.pending.has(key)) throw new Refusal(409, `A book named "${name}" is already being added.`);
    const entry = { name, size, type, uploadId: null, partSize: 0, partCount: 1, timer: null };
    this.pending.set(key, entry);
    this.touch(key, entry);
    const ttl = this.config.presignTtlSeconds;
    try {
      if (size <= this.config.partBytes) {
        this.log(`upload: ${key} planned, ${size} bytes, single PUT`);
        return { key, method: 'PUT', url: this.s3.presign('PUT', key, {}, ttl), contentType: type, expiresIn: ttl };
      }
      const partSize = Math.max(this.config.partBytes, Math.ceil(size / this.config.maxParts));
      entry.partSize = partSize;
      entry.partCount = Math.ceil(size / partSize);
      entry.uploadId = await this.s3.createMultipart(key, type);
      this.log(`upload: ${key} planned, ${size} bytes, ${entry.partCount} parts of ${partSize}`);
      return {
        key,
        uploadId: entry.uploadId,
        partSize,
        parts: this.partUrls(key, entry, Array.from({ length: entry.partCount }, (_, i) => i + 1)),
        expiresIn: ttl,
      };
    } catch (err) {
      this.pending.delete(key);
      clearTimeout(entry.timer);
      throw err;
    }
  }

  partUrls(key, entry, numbers) {
    return numbers.map((partNumber) => ({
      partNumber,
      url: this.s3.presign('PUT', key, { partNumber: String(partNumber), uploadId: entry.uploadId }, this.config.presignTtlSeconds),
    }));
  }

  lookup(body, wantMultipart) {
    const key = typeof body.key === 'string' ? body.key : '';
    const entry = this.pending.get(key);
    if (!entry || (wantMultipart && !entry.uploadId) || (body.uploadId !== undefined && body.uploadId !== entry.uploadId)) {
      throw new Refusal(404, 'This upload is not known any more (it may have expired). Please add the book again.');
    }
    return { key, entry };
  }

  /** POST /_hosted/api/uploads/parts {key, uploadId, partNumbers}: fresh URLs for a long upload. */
  refresh(body) {
    const { key, entry } = this.lookup(body, true);
    const numbers = Array.isArray(body.partNumbers) ? body.partNumbers : [];
    if (numbers.length === 0 || !numbers.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= entry.partCount)) {
      throw new Refusal(400, 'Those parts are not part of this upload.');
    }
    this.touch(key, entry);
    return { key, parts: this.partUrls(key, entry, numbers), expiresIn: this.config.presignTtlSeconds };
  }

  /** POST /_hosted/api/uploads/abort {key, uploadId?} */
  async abort(body) {
    const { key, entry } = this.lookup(body, false);
    this.pending.delete(key);
    clearTimeout(entry.timer);
    if (entry.uploadId) await this.s3.abortMultipart(key, entry.uploadId);
    // A single PUT that did finish made an object that was not there when we checked: ours to remove.
    else if (await this.s3.head(key)) await this.s3.remove(key);
    this.log(`upload: ${key} aborted`);
    return { key, aborted: true };
  }

  /** POST /_hosted/api/uploads/complete {key, uploadId?, parts?} */
  async complete(body) {
    const { key, entry } = this.lookup(body, false);
    if (entry.completing) throw new Refusal(409, `"${entry.name}" is already being finished.`);
    entry.completing = true;
    try {
      return await this.finish(key, entry);
    } finally {
      entry.completing = false;
    }
  }

  async finish(key, entry) {
    const { name, size, type } = entry;
    if (entry.uploadId) {
      // The bucket's own list of parts, not the browser's: nothing the browser says is trusted here.
      const parts = await this.s3.listParts(key, entry.uploadId);
      const complete =
        parts.length === entry.partCount && parts.every((p, i) => p.partNumber === i + 1 && p.etag);
      if (!complete) {
        throw new Refusal(400, `"${name}" has not finished uploading (${parts.length} of ${entry.partCount} parts arrived).`);
      }
      await this.s3.completeMultipart(key, entry.uploadId, parts);
      entry.uploadId = null; // from here on it is an object, removed with DELETE if refused
    }
    const refuse = async (status, message) => {
      await this.s3.remove(key).catch(() => {});
      this.release(key, entry);
      this.log(`upload: ${key} refused after upload: ${message}`);
      throw new Refusal(status, message);
    };
    const head = await this.s3.head(key);
    if (!head) throw new Refusal(400, `"${name}" has not finished uploading. Please add it again.`);
    if (head.size !== size) {
      await refuse(400, `"${name}" arrived with ${humanBytes(head.size)} instead of ${humanBytes(size)}; it was not added. Please try again.`);
    }
    const first = await this.s3.getRange(key, 0, Math.min(HEAD_BYTES, size) - 1);
    if (!matchesType(type, first)) {
      const kind = type === 'application/pdf' ? 'PDF' : 'EPUB';
      await refuse(415, `"${name}" is not a valid ${kind} file; it was not added.`);
    }
    this.release(key, entry);
    try {
      const source = await this.s3.getStream(key);
      await library.ingest(this.config.libraryPath, name, source, size, head.lastModified);
    } catch (err) {
      if (err instanceof library.AlreadyThere) {
        // The library is the truth: a file of that name appeared meanwhile, so this copy must not
        // replace it in R2 either.
        await this.s3.remove(key).catch(() => {});
        throw new Refusal(409, `A book named "${name}" is already in your library.`);
      }
      // The object is safe in R2; the periodic pull brings it in.
      this.log(`upload: ${key} stored, not yet in the library (${err.message}); the next sync brings it in`);
      return { key, name, size, ingested: false, message: `"${name}" is uploaded and will appear in your library within a few minutes.` };
    }
    if (this.config.uploadsMarkDir) {
      // Not fatal: without the mark the sync still sees the book on both sides; only a deletion
      // before that sync would bring it back.
      await library
        .mark(this.config.uploadsMarkDir, name)
        .catch((err) => this.log(`upload: ${key} not marked for the sync (${err.code || err.message})`));
    }
    this.log(`upload: ${key} added to the library, ${size} bytes`);
    return { key, name, size, ingested: true, message: `"${name}" is in your library.` };
  }

  release(key, entry) {
    if (this.pending.get(key) === entry) this.pending.delete(key);
    clearTimeout(entry.timer);
  }
}

module.exports = { Uploads, humanBytes };
