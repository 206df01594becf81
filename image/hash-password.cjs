'use strict';
// Prints a bcrypt hash of OWNER_INITIAL_PASSWORD the way Alex hashes passwords (bcryptjs, cost 10),
// for the entrypoint's first creation of the owner. The password comes from the environment, never
// argv, and is never printed.
const bcrypt = require(process.env.BCRYPT_MODULE || 'bcryptjs');

const MIN_LENGTH = 6; // Alex's own minimum for admin-set passwords

const password = process.env.OWNER_INITIAL_PASSWORD || '';
if (password.length < MIN_LENGTH) {
  console.error(`hash-password: OWNER_INITIAL_PASSWORD must be at least ${MIN_LENGTH} characters`);
  process.exit(2);
}
process.stdout.write(`${bcrypt.hashSync(password, 10)}\n`);
