'use strict';
// Who signed out, and when: for each user id, the first second from which tokens are good again. A token
// of that user issued (iat) before it is refused. NextAuth re-issues a session's token with a new iat and
// jti on every request, so no id survives from the token a reader signed out with to a copy taken an hour
// earlier: the cut has to be by time, per user, and signing out signs that user out on every device.
//
// Kept in a small JSON file on the volume (written whole, then renamed), so a restart of the companion or
// of the machine forgets no sign-out. An entry is dropped once every token it refuses has expired anyway
// (30 days), and the list never holds more than MAX_USERS entries (Alex's users are a handful per tenant).

const fs = require('node:fs');
const path = require('node:path');

// Alex's session lifetime (src/lib/auth/config.ts), plus NextAuth's clock tolerance.
const SESSION_MAX_AGE_SECONDS = 30 * 24 * 60 * 60 + 15;
const MAX_USERS = 10000;
// The key that stands for every user: set when the file could not be read, so the loss fails closed.
const EVERYONE = '*';

class Signouts {
  constructor({ file = null, now = () => Date.now(), log = () => {} } = {}) {
    this.file = file;
    this.now = now;
    this.log = log;
    this.cuts = new Map();
    this.load();
  }

  load() {
    if (!this.file) return;
    let text;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return;
      this.failClosed(`cannot read ${this.file}: ${err.code || err.message}`);
      return;
    }
    try {
      const saved = JSON.parse(text);
      if (!saved || typeof saved.signedOut !== 'object' || Array.isArray(saved.signedOut)) throw new Error('no signedOut map');
      for (const [user, cut] of Object.entries(saved.signedOut)) {
        if (typeof cut !== 'number' || !Number.isFinite(cut)) throw new Error(`bad entry for ${JSON.stringify(user.slice(0, 40))}`);
        this.cuts.set(user, cut);
      }
    } catch (err) {
      this.failClosed(`${this.file} is not a sign-out list (${err.message})`);
    }
  }

  // Better every reader signs in again than a signed-out session comes back. The cut is this second, not
  // the next: a reader signing in right after the start must not be refused.
  failClosed(why) {
    this.cuts.clear();
    this.cuts.set(EVERYONE, Math.floor(this.now() / 1000));
    this.log(`sessions: ${why}; every session issued before now is refused`);
    this.save();
  }

  /** Is a token of `user` issued at `iat` (seconds) signed out? */
  revoked(user, iat) {
    const cut = Math.max(this.cuts.get(user) ?? -Infinity, this.cuts.get(EVERYONE) ?? -Infinity);
    return iat < cut;
  }

  /**
   * Records that `user` signed out now: every token of theirs issued before the next whole second is
   * refused. Resolves at that second (under one), so a sign-in the reader starts after seeing the answer
   * gets a token issued (iat, whole seconds) at or after the cut.
   */
  signOut(user) {
    const nowMs = this.now();
    const cut = Math.floor(nowMs / 1000) + 1;
    this.cuts.delete(user); // re-inserted last: the newest entry is the last one dropped
    this.cuts.set(user, cut);
    this.prune();
    this.save();
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, cut * 1000 - nowMs)));
  }

  prune() {
    const oldest = this.now() / 1000 - SESSION_MAX_AGE_SECONDS;
    for (const [user, cut] of this.cuts) if (cut < oldest) this.cuts.delete(user);
    while (this.cuts.size > MAX_USERS) {
      const first = this.cuts.keys().next().value;
      this.cuts.delete(first);
      this.log(`sessions: the sign-out list is full; dropped its oldest entry`);
    }
  }

  save() {
    if (!this.file) return;
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.tmp`);
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.writeSync(fd, JSON.stringify({ signedOut: Object.fromEntries(this.cuts) }));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
    } catch (err) {
      this.log(`sessions: cannot write ${this.file}: ${err.code || err.message}`);
    }
  }
}

module.exports = { Signouts, SESSION_MAX_AGE_SECONDS };
