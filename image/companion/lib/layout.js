'use strict';
// Where the companion writes in the tenant's bucket, and the mark it leaves on a book it checked: the
// same names as tenants/bucket_layout.py and image/entrypoint.sh (tests/companion/test_layout.py).

// Every presigned URL points here (the default of UPLOAD_STAGING_PREFIX), never at books/: only
// `complete`, after its checks, copies an object into books/. Anything left here is deleted by the
// companion once its URL can no longer write, and by the bucket's lifecycle rule as a backstop.
const STAGING_PREFIX = 'staging/';
const BOOKS_PREFIX = 'books/';
// User metadata (x-amz-meta-<name>) on a book the companion copied into books/ after its checks. The
// entrypoint pulls a book it never saw only when it carries this mark or its ledger lists it.
const CHECKED_METADATA = { name: 'hosted-upload', value: 'checked' };

module.exports = { STAGING_PREFIX, BOOKS_PREFIX, CHECKED_METADATA };
