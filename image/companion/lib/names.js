'use strict';
// What a reader may call a book: a plain file name that is safe as a file in the library folder and as
// the key books/<name> in R2, with an extension matching the declared type. It is the one rule for book
// names: every name it accepts is the same file name, the same R2 key and the same line in the
// entrypoint's listings through upload, backup and restore with the image's rclone (its encodings are
// pinned in image/entrypoint.sh; tests/image/test_entrypoint_book_names.py pushes every Unicode
// category and every character rclone's encoders touch through that chain).

const TYPES = {
  'application/pdf': '.pdf',
  'application/epub+zip': '.epub',
};
// ext4 allows 255 bytes per name; leave room for the " (2)" a renamed copy adds.
const MAX_NAME_BYTES = 200;

class Refusal extends Error {
  constructor(status, message, extra) {
    super(message);
    this.status = status;
    this.extra = extra || {};
  }
}

function extensionOf(name) {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : '';
}

/** The name to use (NFC, as Linux and R2 compare bytes) or a Refusal a reader understands. */
function checkName(raw) {
  if (typeof raw !== 'string' || raw.length === 0) throw new Refusal(400, 'The file has no name.');
  const name = raw.normalize('NFC');
  if (name === '.' || name === '..') throw new Refusal(400, 'That is not a file name.');
  if (/[/\\]/.test(name)) throw new Refusal(400, 'A book\'s name cannot contain "/" or "\\".');
  // Control characters, format characters (bidi overrides, zero-width), lone surrogates, private use
  // and unassigned code points: invisible or misleading in a library listing.
  if (/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\u2028\u2029]/u.test(name)) {
    throw new Refusal(400, 'A book\'s name cannot contain invisible or control characters. Rename the file and try again.');
  }
  // rclone escapes names with these: U+201B is its quote character (a name holding it comes back under
  // another name, or not at all) and the Control Pictures block (U+2400 to U+243F) stands for control
  // characters (listed escaped). Neither appears in real titles.
  if (/[\u201b\u2400-\u243f]/u.test(name)) {
    throw new Refusal(400, `A book's name cannot contain "\u201b" or control-picture symbols such as "\u2400": the backup uses them to encode names. Rename the file and try again.`);
  }
  if (name.startsWith('.')) throw new Refusal(400, 'A book\'s name cannot start with a dot.');
  if (name !== name.trim()) throw new Refusal(400, 'A book\'s name cannot start or end with a space.');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
    throw new Refusal(400, 'That file name is too long. Shorten it to under 200 characters and try again.');
  }
  const ext = extensionOf(name);
  if (ext !== '.pdf' && ext !== '.epub') {
    throw new Refusal(415, 'Only PDF and EPUB books can be added: the file name must end in .pdf or .epub.');
  }
  if (name.length === ext.length) throw new Refusal(400, 'That is not a file name.');
  return name;
}

function checkType(type, name) {
  const ext = TYPES[type];
  if (!ext) throw new Refusal(415, 'Only PDF and EPUB books can be added.');
  if (extensionOf(name) !== ext) {
    const kind = ext === '.pdf' ? 'PDF' : 'EPUB';
    throw new Refusal(415, `This file is said to be a ${kind} but its name does not end in ${ext}.`);
  }
  return type;
}

/** "Book (2).pdf" for "Book.pdf". */
function numbered(name, n) {
  const dot = name.lastIndexOf('.');
  return `${name.slice(0, dot)} (${n})${name.slice(dot)}`;
}

module.exports = { checkName, checkType, numbered, Refusal, TYPES, extensionOf };
