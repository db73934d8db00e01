-- The default mailbox table (SQLite), created with a new database file. One row per address.
-- password: a stored value with its scheme, e.g. {SHA512-CRYPT}$6$... (see `host adduser`).
-- maildrop: the Maildir, relative to the pop3 module's maildir_root (or absolute, under it).
CREATE TABLE IF NOT EXISTS mailbox (
  address TEXT PRIMARY KEY,
  password TEXT NOT NULL,
  maildrop TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  last_login INTEGER,
  last_login_ip TEXT
);
