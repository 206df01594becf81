#!/bin/sh
# Entrypoint of the hosted Alex image. Replaces Alex's stock CMD, which runs the seed that resets
# admin@localhost/admin123 on every boot. In order:
#   1. make the data volume usable by the app user (a fresh Fly volume is root-owned), then drop root;
#   2. on a volume without a database, restore from the tenant's R2 bucket: book files and covers
#      first, then the newest database snapshot (Alex's watcher deletes rows whose files are missing);
#   3. apply the schema with Alex's own db-push script (no pnpm, no network);
#   4. make sure the owner exists as an admin (password hashed once, never reset) and that no
#      admin@localhost account is left;
#   5. run the watcher and the companion (both restarted when they die) and Alex's server on
#      127.0.0.1:ALEX_PORT behind the companion on COMPANION_PORT, forwarding stop signals;
#   6. every BACKUP_INTERVAL_SECONDS and once more on stop: mirror the library to R2's books/ (the
#      volume is the truth: a book deleted locally moves to deleted/<UTC>/ in R2 for
#      BOOK_DELETE_GRACE_DAYS, then is purged), pull books new in R2 that a backup or the companion's
#      checks account for (never deleting local files; the rest is reported), mirror the covers to
#      R2's covers/, upload a VACUUM INTO snapshot, keep BACKUP_KEEP snapshots, then write
#      status/health.json (last good backup, last restore attempt, book files not copied or not
#      accounted for) for the fleet collector.
# One book file that cannot be copied never stops a restore or a backup: the rest is copied, the
# machine boots, and the file is reported.
# Every path and command is overridable by env so the tests can run this in a temporary root.
set -u

APP_DIR="${APP_DIR:-/app}"
DATA_DIR="${DATA_DIR:-$APP_DIR/data}"
DATABASE_PATH="${DATABASE_PATH:-$DATA_DIR/library.db}"
LIBRARY_PATH="${LIBRARY_PATH:-$DATA_DIR/library}"
COVERS_PATH="${COVERS_PATH:-$DATA_DIR/covers}"
HOSTED_STATE_DIR="${HOSTED_STATE_DIR:-$DATA_DIR/.hosted}"
BACKUP_TMP_DIR="${BACKUP_TMP_DIR:-${TMPDIR:-/tmp}/alex-backup}"
NODE_BIN="${NODE_BIN:-node}"
SQLITE3_BIN="${SQLITE3_BIN:-sqlite3}"
RCLONE_BIN="${RCLONE_BIN:-rclone}"
SETPRIV_BIN="${SETPRIV_BIN:-setpriv}"
WATCHER_RS_BIN="${WATCHER_RS_BIN:-$APP_DIR/watcher-rs/watcher-rs}"
SERVER_JS="${SERVER_JS:-$APP_DIR/.next/standalone/server.js}"
DB_PUSH_JS="${DB_PUSH_JS:-$APP_DIR/scripts/db-push.js}"
HASH_PASSWORD_JS="${HASH_PASSWORD_JS:-$APP_DIR/hosted/hash-password.cjs}"
COMPANION_NODE_BIN="${COMPANION_NODE_BIN:-$NODE_BIN}"
COMPANION_JS="${COMPANION_JS:-$APP_DIR/hosted/companion/server.js}"
APP_USER="${APP_USER:-node}"
BACKUP_INTERVAL_SECONDS="${BACKUP_INTERVAL_SECONDS:-300}"
BACKUP_KEEP="${BACKUP_KEEP:-24}"
BOOK_DELETE_GRACE_DAYS="${BOOK_DELETE_GRACE_DAYS:-30}"
SUPERVISE_TICK_SECONDS="${SUPERVISE_TICK_SECONDS:-1}"
WATCHER_RESTART_DELAY_SECONDS="${WATCHER_RESTART_DELAY_SECONDS:-5}"
STOP_TIMEOUT_SECONDS="${STOP_TIMEOUT_SECONDS:-20}"
R2_BOOT_ATTEMPTS="${R2_BOOT_ATTEMPTS:-5}"
R2_BOOT_RETRY_SECONDS="${R2_BOOT_RETRY_SECONDS:-5}"
# Alex listens only on loopback: every request reaches it through the companion, which Fly routes to.
SERVER_BIND="${SERVER_BIND:-127.0.0.1}"
ALEX_PORT="${ALEX_PORT:-3001}"
COMPANION_PORT="${COMPANION_PORT:-3000}"
ALEX_URL="${ALEX_URL:-http://$SERVER_BIND:$ALEX_PORT}"
COMPANION_RESTART_DELAY_SECONDS="${COMPANION_RESTART_DELAY_SECONDS:-1}"
IMAGE_VERSION="${IMAGE_VERSION:-unknown}"
BOOT_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# Like Alex's stock CMD: watcher-rs loads libpdfium.so from its own folder.
LD_LIBRARY_PATH="$(dirname "$WATCHER_RS_BIN")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DATABASE_PATH LIBRARY_PATH COVERS_PATH WATCHER_RS_BIN LD_LIBRARY_PATH

DEFAULT_ADMIN_EMAIL='admin@localhost'
SNAPSHOT_RE='^library-[0-9]{8}T[0-9]{6}Z\.db$'
DELETED_RE='^[0-9]{8}T[0-9]{6}Z/$'
# Book keys (paths under books/ and the library) known to have been on both sides: the volume's
# memory of which books the reader had, so one missing locally is a deletion, not a new book in R2.
BOOKS_MANIFEST="$HOSTED_STATE_DIR/books.manifest"
# The companion leaves <id>.key here (the book's key, one a line) after putting an upload in the
# library; its temp files there match UPLOAD_TEMP_GLOB until renamed.
UPLOADS_DIR="$HOSTED_STATE_DIR/uploaded"
# The companion's list of who signed out when (image/companion/lib/signouts.js).
SIGNOUTS_FILE="$HOSTED_STATE_DIR/signed-out.json"
UPLOAD_TEMP_GLOB='.hosted-upload-*.part'
# The image's own health, readable by the fleet collector with the bucket's credentials only.
HEALTH_KEY='status/health.json'
# The ledger: the book keys the last backup knew, one a line. With the companion's mark on an object
# (user metadata CHECKED_METADATA=checked, set when it copies an upload it checked into books/), it is
# all a restore or a pull trusts in books/.
BOOKS_LEDGER_KEY='status/books.manifest'
CHECKED_METADATA='hosted-upload'
# Alex draws a book's cover once, when it first indexes the file (COVERS_PATH/<book id>.jpg, a path the
# database keeps), and never again for a file it knows: without them a restored library shows grey
# placeholders for good. Besides the database and the books they are all Alex keeps on the volume; R2's
# covers/ holds them.
# Readers' uploads in flight: the companion's alone (given to it as UPLOAD_STAGING_PREFIX), never
# restored, pulled or backed up.
STAGING_PREFIX='staging/'
# rclone's name encodings, pinned: with them every book name the companion accepts is the same file
# name, R2 key and listing line (image/companion/lib/names.js; tests/image/test_entrypoint_book_names.py).
RCLONE_LOCAL_ENCODING='Slash,Dot'
R2_ENCODING='Slash,InvalidUtf8,Dot'
export RCLONE_LOCAL_ENCODING
# The first book keys the health status names per list (with the count of all).
REPORTED_KEYS=10

log() {
    printf '%s alex-hosted: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
    log "FATAL: $*"
    exit 1
}

# --- 1. volume ownership and privilege drop ------------------------------------------------------

prepare_volume_as_root() {
    mkdir -p "$DATA_DIR" "$LIBRARY_PATH" "$COVERS_PATH" "$HOSTED_STATE_DIR" "$UPLOADS_DIR" \
        || die "cannot create the data folders under $DATA_DIR"
    app_group="$(id -gn "$APP_USER")" || die "APP_USER '$APP_USER' does not exist"
    # Only touch what is wrong: a big library is not rewritten on every boot.
    find "$DATA_DIR" \( ! -user "$APP_USER" -o ! -group "$app_group" \) \
        -exec chown "$APP_USER:$app_group" {} + \
        || die "cannot hand $DATA_DIR to $APP_USER"
}

if [ "$(id -u)" = 0 ] && [ -z "${_ALEX_HOSTED_DROPPED:-}" ]; then
    prepare_volume_as_root
    HOME="$(getent passwd "$APP_USER" | cut -d: -f6)"
    export HOME
    export _ALEX_HOSTED_DROPPED=1
    exec "$SETPRIV_BIN" --reuid="$APP_USER" --regid="$(id -gn "$APP_USER")" --init-groups -- /bin/sh "$0" "$@"
fi
mkdir -p "$DATA_DIR" "$LIBRARY_PATH" "$COVERS_PATH" "$HOSTED_STATE_DIR" "$UPLOADS_DIR" \
    || die "cannot create the data folders under $DATA_DIR"
[ -w "$DATA_DIR" ] || die "$DATA_DIR is not writable by $(id -un)"

# Rotation keeps the newest BACKUP_KEEP snapshots: 0, a negative number or text would make it delete
# every snapshot, the one just uploaded too. Such a value switches rotation off instead.
case "$BACKUP_KEEP" in
    '' | *[!0-9]*) keep_ok=no ;;
    *) if [ "$BACKUP_KEEP" -ge 1 ]; then keep_ok=yes; else keep_ok=no; fi ;;
esac
if [ "$keep_ok" = no ]; then
    log "BACKUP_KEEP='$BACKUP_KEEP' is not a whole number of at least 1: no snapshot will be deleted"
    BACKUP_KEEP=''
fi

# The other timings are seconds or counts: a value that is not a positive whole number would stop the
# shell's arithmetic at the first loop and crash-loop the machine, so it falls back to its default.
# A leading zero is refused too: the shell reads 010 as octal and 08 as an error.
positive_or_default() { # NAME DEFAULT
    value=''
    eval "value=\${$1}"
    case "$value" in
        '' | *[!0-9]* | 0*) log "$1='$value' is not a positive whole number; using $2"; eval "$1=$2" ;;
    esac
}
# Zero is a whole number too, for a delay that may be none: restart at once.
whole_or_default() { # NAME DEFAULT
    value=''
    eval "value=\${$1}"
    case "$value" in
        0) ;;
        '' | *[!0-9]* | 0*) log "$1='$value' is not a whole number; using $2"; eval "$1=$2" ;;
    esac
}
# Timings that only ever reach `sleep` (never the shell's arithmetic) may have decimals: sleep takes
# 0.2. They must still be above zero (a zero tick would spin) and plain digits with at most one dot.
positive_seconds_or_default() { # NAME DEFAULT
    value=''
    eval "value=\${$1}"
    case "$value" in
        '' | .* | *. | *.*.* | *[!0-9.]*) seconds_ok=no ;;
        *[1-9]*) seconds_ok=yes ;;
        *) seconds_ok=no ;;
    esac
    if [ "$seconds_ok" = no ]; then
        log "$1='$value' is not a positive number of seconds; using $2"
        eval "$1=$2"
    fi
}
positive_or_default BACKUP_INTERVAL_SECONDS 300
positive_seconds_or_default SUPERVISE_TICK_SECONDS 1
whole_or_default WATCHER_RESTART_DELAY_SECONDS 5
whole_or_default COMPANION_RESTART_DELAY_SECONDS 1
positive_or_default STOP_TIMEOUT_SECONDS 20
positive_or_default ALEX_PORT 3001
positive_or_default COMPANION_PORT 3000
# Only reaches the status object: a version the JSON can carry as it is, or `unknown`.
case "$IMAGE_VERSION" in
    '' | *[!A-Za-z0-9._:@/+-]*) IMAGE_VERSION=unknown ;;
esac
[ "${#IMAGE_VERSION}" -le 128 ] || IMAGE_VERSION=unknown
positive_or_default R2_BOOT_ATTEMPTS 5
positive_seconds_or_default R2_BOOT_RETRY_SECONDS 5
# Days a deleted book stays recoverable under deleted/ in R2. More than five digits could overflow the
# cutoff's arithmetic into a date in the future, which would purge every deleted book at once.
positive_or_default BOOK_DELETE_GRACE_DAYS 30
if [ "${#BOOK_DELETE_GRACE_DAYS}" -gt 5 ]; then
    log "BOOK_DELETE_GRACE_DAYS='$BOOK_DELETE_GRACE_DAYS' is too large; using 30"
    BOOK_DELETE_GRACE_DAYS=30
fi

# --- R2 access -------------------------------------------------------------------------------

[ -n "${R2_BUCKET:-}" ] || die "R2_BUCKET is not set"
[ -n "${R2_ENDPOINT:-}" ] || die "R2_ENDPOINT is not set"
[ -n "${R2_ACCESS_KEY_ID:-}" ] || die "R2_ACCESS_KEY_ID is not set (Fly app secret)"
[ -n "${R2_SECRET_ACCESS_KEY:-}" ] || die "R2_SECRET_ACCESS_KEY is not set (Fly app secret)"
REMOTE="r2:$R2_BUCKET"
# rclone's default connect timeout is a minute; a dead network should fail a sync sooner.
RCLONE_CONTIMEOUT="${RCLONE_CONTIMEOUT:-10s}"
export RCLONE_CONTIMEOUT

# The remote is defined in rclone's own env for this one command, so the keys never reach argv
# (ps) or a config file. no_check_bucket: a bucket-scoped token may not create or probe buckets.
r2() {
    RCLONE_CONFIG=/dev/null \
    RCLONE_CONFIG_R2_TYPE=s3 \
    RCLONE_CONFIG_R2_PROVIDER=Cloudflare \
    RCLONE_CONFIG_R2_ENDPOINT="$R2_ENDPOINT" \
    RCLONE_CONFIG_R2_REGION=auto \
    RCLONE_CONFIG_R2_NO_CHECK_BUCKET=true \
    RCLONE_CONFIG_R2_ENCODING="$R2_ENCODING" \
    RCLONE_CONFIG_R2_ACCESS_KEY_ID="$R2_ACCESS_KEY_ID" \
    RCLONE_CONFIG_R2_SECRET_ACCESS_KEY="$R2_SECRET_ACCESS_KEY" \
        "$RCLONE_BIN" "$@"
}

# Prints the snapshot keys under db/, oldest first; fails when R2 cannot be listed.
list_snapshots() {
    listing="$(r2 lsf --files-only "$REMOTE/db/")" || return 1
    printf '%s\n' "$listing" | grep -E "$SNAPSHOT_RE" | LC_ALL=C sort
    return 0
}

sql_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

db() {
    "$SQLITE3_BIN" -batch -bail -cmd '.timeout 10000' "$DATABASE_PATH" "$@"
}

# --- health status ---------------------------------------------------------------------------

# status/health.json in the bucket is built from these files on the volume, so whichever writes it (a
# backup cycle, the final backup, a failed restore) tells the whole story, e.g. a failed restore stays
# visible after later backups succeed. Writing it never fails a backup or a boot.
LAST_BACKUP_FILE="$HOSTED_STATE_DIR/last-backup-at"
LAST_SNAPSHOT_FILE="$HOSTED_STATE_DIR/last-snapshot.key"
BOOKS_COUNT_FILE="$HOSTED_STATE_DIR/books.count"
LAST_RESTORE_FILE="$HOSTED_STATE_DIR/last-restore.json"
# Book keys (one a line) the last sync or restore could not copy, and keys in books/ it could not
# account for (never pulled): reported until a later sync finds otherwise.
BOOKS_FAILED_FILE="$HOSTED_STATE_DIR/books.failed"
BOOKS_UNACCOUNTED_FILE="$HOSTED_STATE_DIR/books.unaccounted"
ISO_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
SNAPSHOT_KEY_RE="^db/${SNAPSHOT_RE#^}"
COUNT_RE='^[0-9]{1,12}$'

put_state() { # FILE VALUE
    printf '%s\n' "$2" >"$1.new" && mv "$1.new" "$1"
}

# The file's first line as JSON if it matches the ERE $2 (a string; a number with $3 = number), else null.
state_json() { # FILE ERE [number]
    value="$(head -n 1 "$1" 2>/dev/null)"
    if ! printf '%s\n' "$value" | grep -Eq "$2"; then
        printf 'null'
    elif [ "${3:-}" = number ]; then
        printf '%s' "$value"
    else
        printf '"%s"' "$value"
    fi
}

json_string() {
    printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/[\\"]/\\&/g')"
}

# {"count": N, "keys": [...]} for a file of book keys (one a line): the first REPORTED_KEYS, each cut
# to 200 characters. sqlite3 writes the JSON (any character, quoted right); bytes that are not UTF-8
# are dropped first. null when the file cannot be read.
json_keys() {
    [ -e "$1" ] || { printf '{"count": 0, "keys": []}'; return 0; }
    count="$(grep -c '' "$1" 2>/dev/null)"
    case "$count" in '' | *[!0-9]*) printf 'null'; return 0 ;; esac
    head -n "$REPORTED_KEYS" "$1" | iconv -c -f UTF-8 -t UTF-8 >"$1.json-in" 2>/dev/null
    keys="$("$SQLITE3_BIN" -batch -noheader :memory: "
WITH RECURSIVE lines(line, rest) AS (
  SELECT NULL, CAST(readfile($(sql_quote "$1.json-in")) AS TEXT)
  UNION ALL
  SELECT substr(rest, 1, instr(rest || char(10), char(10)) - 1), substr(rest, instr(rest || char(10), char(10)) + 1)
    FROM lines WHERE rest <> ''
)
SELECT json_object('count', $count, 'keys', json_group_array(substr(line, 1, 200)))
  FROM (SELECT line FROM lines WHERE line IS NOT NULL);" 2>/dev/null)"
    rm -f "$1.json-in"
    case "$keys" in '{'*'}') printf '%s' "$keys" ;; *) printf 'null' ;; esac
}

write_health() {
    restore="$(head -n 1 "$LAST_RESTORE_FILE" 2>/dev/null)"
    case "$restore" in '{"at": '*'}') ;; *) restore=null ;; esac
    health="{\"version\": 1, \"last_backup_at\": $(state_json "$LAST_BACKUP_FILE" "$ISO_RE"),"
    health="$health \"last_snapshot\": $(state_json "$LAST_SNAPSHOT_FILE" "$SNAPSHOT_KEY_RE"),"
    health="$health \"books\": $(state_json "$BOOKS_COUNT_FILE" "$COUNT_RE" number), \"restore\": $restore,"
    health="$health \"books_failed\": $(json_keys "$BOOKS_FAILED_FILE"),"
    health="$health \"books_unaccounted\": $(json_keys "$BOOKS_UNACCOUNTED_FILE"),"
    health="$health \"boot_at\": \"$BOOT_AT\", \"image\": \"$IMAGE_VERSION\"}"
    # One short try: a dead R2 must not hold a backup cycle or a failing boot for minutes.
    if printf '%s\n' "$health" | r2 rcat --retries 1 --low-level-retries 1 --contimeout 5s --timeout 15s \
        "$REMOTE/$HEALTH_KEY"; then
        log "status: wrote $HEALTH_KEY"
    else
        log "status: writing $HEALTH_KEY to $R2_BUCKET failed (ignored)"
    fi
    return 0
}

# $1 = ok or failed, $2 = a short reason (fixed text: never a key, a URL or an rclone message).
record_restore() {
    if [ "$1" = ok ]; then
        put_state "$LAST_RESTORE_FILE" "{\"at\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"ok\": true, \"error\": null}"
    else
        put_state "$LAST_RESTORE_FILE" \
            "{\"at\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"ok\": false, \"error\": $(json_string "$2")}"
    fi
}

restore_failed() { # REASON MESSAGE...
    reason="$1"
    shift
    record_restore failed "$reason"
    write_health
    die "$@"
}

# A new volume starts from the lost one's status: when the tenant was last backed up stays known.
carry_over_health() {
    previous="$(r2 cat --count 4096 "$REMOTE/$HEALTH_KEY" 2>/dev/null)" || return 0
    for pair in "last_backup_at:$LAST_BACKUP_FILE" "last_snapshot:$LAST_SNAPSHOT_FILE"; do
        value="$(printf '%s\n' "$previous" | sed -nE "s/.*\"${pair%%:*}\": \"([^\"]*)\".*/\1/p" | head -n 1)"
        [ -z "$value" ] || put_state "${pair#*:}" "$value"
    done
    value="$(printf '%s\n' "$previous" | sed -nE 's/.*"books": ([0-9]+).*/\1/p' | head -n 1)"
    [ -z "$value" ] || put_state "$BOOKS_COUNT_FILE" "$value"
    return 0
}

# --- book files: copying, and what may be copied --------------------------------------------

# Sorted file keys under $1 (the library or a remote folder) into $2; fails on any listing error.
# rclone lists both sides, so names with spaces, quotes or non-ASCII compare the same way. The
# companion's half-downloaded uploads (hidden temp files in the library) are no books.
list_keys() {
    r2 lsf -R --files-only --exclude "$UPLOAD_TEMP_GLOB" "$1" >"$2" || return 1
    LC_ALL=C sort -u -o "$2" "$2"
}

# Runs `rclone copy ARGS...` (with --files-from-raw: only the keys listed) and appends the keys it could
# not copy to $1. One object failing does not stop the others; this fails only when rclone failed in a
# way no single object explains (R2 unreachable, a bad listing), so the caller can tell the two apart.
copy_books() { # FAILED ARGS...
    failed_out="$1"
    shift
    copy_log="$failed_out.rclone"
    if r2 copy --use-json-log "$@" 2>"$copy_log"; then
        rm -f "$copy_log"
        return 0
    fi
    grep -v '^{' "$copy_log" >&2
    grep '^{' "$copy_log" | sed -e '1s/^/[/' -e '$!s/$/,/' -e '$s/$/]/' >"$copy_log.json"
    rm -f "$copy_log"
    [ -s "$copy_log.json" ] || { rm -f "$copy_log.json"; return 1; }
    entries="FROM json_each(CAST(readfile($(sql_quote "$copy_log.json")) AS TEXT))
  WHERE json_extract(value, '\$.level') = 'error'"
    objectless="$("$SQLITE3_BIN" -batch -noheader :memory: "SELECT count(*) $entries
    AND json_extract(value, '\$.object') IS NULL AND json_extract(value, '\$.msg') NOT LIKE 'Attempt %';")"
    "$SQLITE3_BIN" -batch -noheader :memory: "SELECT 'books: could not copy ' || json_extract(value, '\$.object')
    || ': ' || replace(replace(substr(json_extract(value, '\$.msg'), 1, 300), char(10), ' '), char(9), ' ') $entries
    AND json_extract(value, '\$.object') IS NOT NULL;" | LC_ALL=C sort -u | while IFS= read -r line; do log "$line"; done
    "$SQLITE3_BIN" -batch -noheader :memory: "SELECT DISTINCT json_extract(value, '\$.object') $entries
    AND json_extract(value, '\$.object') IS NOT NULL;" >"$copy_log.objects" || objectless=failed
    cat "$copy_log.objects" >>"$failed_out"
    [ "$objectless" = 0 ] && [ -s "$copy_log.objects" ]
    single=$?
    rm -f "$copy_log.json" "$copy_log.objects"
    return "$single"
}

# The ledger's keys into $1: status 0, 2 when the bucket has none yet, 1 when R2 cannot be read.
read_ledger() {
    status_files="$(r2 lsf --files-only --max-depth 1 "$REMOTE/${BOOKS_LEDGER_KEY%/*}/")" || return 1
    printf '%s\n' "$status_files" | grep -qxF "${BOOKS_LEDGER_KEY##*/}" || return 2
    r2 cat "$REMOTE/$BOOKS_LEDGER_KEY" >"$1" || return 1
    LC_ALL=C sort -u -o "$1" "$1"
}

# The keys among $1 (sorted keys of books/) whose object carries the companion's checked mark, into $2.
checked_keys() {
    : >"$2"
    [ -s "$1" ] || return 0
    r2 lsjson -R -M --files-only --files-from-raw "$1" "$REMOTE/books" >"$2.json" || return 1
    "$SQLITE3_BIN" -batch -noheader :memory: "SELECT json_extract(value, '\$.Path')
  FROM json_each(CAST(readfile($(sql_quote "$2.json")) AS TEXT))
  WHERE json_extract(value, '\$.Metadata.\"$CHECKED_METADATA\"') = 'checked';" >"$2" || return 1
    rm -f "$2.json"
    LC_ALL=C sort -u -o "$2" "$2"
}

# Splits $1 (sorted keys of books/ not in the library) into $2, what a backup or a check accounts for
# (in the ledger, or carrying the companion's mark), and $3, the rest: never copied, only reported.
# $4 = restore: a bucket without a ledger (written by an image before the ledger, or by the operator's
# migrate script) is trusted whole, as before, and its listing becomes the ledger.
accounted_keys() {
    : >"$3"
    read_ledger "$2.ledger"
    case $? in
        0) ;;
        2)
            if [ "${4:-}" = restore ]; then
                log "restore: $R2_BUCKET has no book ledger yet: every book in books/ is trusted"
                cp "$1" "$2" && cp "$1" "$2.ledger" || return 1
                # From now on these are what an earlier backup put there; the next sync rewrites it.
                upload_ledger "$2.ledger" || log "restore: writing the book ledger to $R2_BUCKET failed"
                return 0
            fi
            : >"$2.ledger"
            ;;
        *) return 1 ;;
    esac
    LC_ALL=C comm -23 "$1" "$2.ledger" >"$2.rest"
    checked_keys "$2.rest" "$2.checked" || return 1
    LC_ALL=C comm -12 "$1" "$2.ledger" | LC_ALL=C sort -u - "$2.checked" >"$2"
    LC_ALL=C comm -23 "$2.rest" "$2.checked" >"$3"
    rm -f "$2.ledger" "$2.rest" "$2.checked"
}

# Uploads $1 as the ledger unless the last upload had the same bytes.
upload_ledger() {
    sum="$(sha256sum <"$1" | cut -d' ' -f1)"
    [ "$sum" != "$(cat "$HOSTED_STATE_DIR/ledger.sha256" 2>/dev/null)" ] || return 0
    r2 copyto "$1" "$REMOTE/$BOOKS_LEDGER_KEY" || return 1
    printf '%s\n' "$sum" >"$HOSTED_STATE_DIR/ledger.sha256"
}

# $1 = unaccounted keys: logged and kept for the health status.
report_unaccounted() {
    if [ -s "$1" ]; then
        log "books: WARNING: $(grep -c '' "$1") book file(s) in $R2_BUCKET/books/ that no backup and no" \
            "checked upload put there are not brought into the library (listed in $HEALTH_KEY)"
    fi
    cp "$1" "$BOOKS_UNACCOUNTED_FILE.new" && mv "$BOOKS_UNACCOUNTED_FILE.new" "$BOOKS_UNACCOUNTED_FILE"
}

restore_books() {
    work="$HOSTED_STATE_DIR/restore"
    rm -rf "$work"
    mkdir -p "$work" || restore_failed "copying book files failed" "restore: cannot create $work"
    list_keys "$REMOTE/books" "$work/remote" \
        || restore_failed "listing book files failed" "restore: listing $R2_BUCKET/books/ failed"
    accounted_keys "$work/remote" "$work/trusted" "$work/unaccounted" restore \
        || restore_failed "reading the book ledger failed" "restore: reading $R2_BUCKET's book ledger failed"
    : >"$work/failed"
    copy_books "$work/failed" --files-from-raw "$work/trusted" "$REMOTE/books" "$LIBRARY_PATH" \
        || restore_failed "copying book files failed" "restore: copying book files from $R2_BUCKET failed"
    # What is not in the library now failed, whatever rclone said.
    list_keys "$LIBRARY_PATH" "$work/here" || restore_failed "copying book files failed" "restore: cannot list $LIBRARY_PATH"
    LC_ALL=C comm -23 "$work/trusted" "$work/here" >"$BOOKS_FAILED_FILE"
    if [ -s "$BOOKS_FAILED_FILE" ]; then
        log "restore: WARNING: $(grep -c '' "$BOOKS_FAILED_FILE") book file(s) could not be copied; booting" \
            "without them (the next syncs try again; listed in $HEALTH_KEY)"
    fi
    report_unaccounted "$work/unaccounted"
    rm -rf "$work"
}

# Covers, before the database that names them. A cover that cannot be copied is logged and left out
# (Alex shows its placeholder); R2 not answering fails the restore, which the next boot tries again.
restore_covers() {
    log "restore: copying covers from $R2_BUCKET/covers/"
    failed="$HOSTED_STATE_DIR/covers.failed"
    : >"$failed"
    copy_books "$failed" "$REMOTE/covers" "$COVERS_PATH" \
        || restore_failed "copying covers failed" "restore: copying covers from $R2_BUCKET failed"
    [ ! -s "$failed" ] || log "restore: WARNING: $(grep -c '' "$failed") cover(s) could not be copied"
    rm -f "$failed"
}

# --- 2. restore ------------------------------------------------------------------------------

restore_from_r2() {
    attempt=1
    while ! snapshots="$(list_snapshots)"; do
        if [ "$attempt" -ge "$R2_BOOT_ATTEMPTS" ]; then
            restore_failed "R2 unreachable after $R2_BOOT_ATTEMPTS attempts" \
                "R2 bucket $R2_BUCKET unreachable and the volume holds no database: refusing to start" \
                "an empty library that would hide the tenant's backups"
        fi
        log "R2 bucket $R2_BUCKET unreachable (attempt $attempt of $R2_BOOT_ATTEMPTS); retrying in ${R2_BOOT_RETRY_SECONDS}s"
        attempt=$((attempt + 1))
        sleep "$R2_BOOT_RETRY_SECONDS"
    done
    carry_over_health
    # Files first: the watcher drops rows of books whose files are missing, and a database put in
    # place last means a failed restore is simply retried on the next boot. Only books/: what is
    # under deleted/ was deleted by the reader and stays deleted, staging/ holds unchecked uploads.
    log "restore: copying book files from $R2_BUCKET/books/"
    restore_books
    # The library now is books/: no earlier memory of the library may turn a book into a deletion.
    rm -f "$BOOKS_MANIFEST"
    restore_covers
    if [ -z "$snapshots" ]; then
        log "restore: no database backup in $R2_BUCKET: new tenant"
        record_restore ok
        return 0
    fi
    staged="$DATABASE_PATH.restoring"
    for key in $(printf '%s\n' "$snapshots" | LC_ALL=C sort -r); do
        rm -f "$staged"
        if ! r2 copyto "$REMOTE/db/$key" "$staged"; then
            restore_failed "downloading db/$key failed" "restore: downloading db/$key from $R2_BUCKET failed"
        fi
        # quick_check passes an empty file (an empty database); a snapshot must also hold Alex's users.
        if [ "$("$SQLITE3_BIN" -batch "$staged" 'PRAGMA quick_check' 2>/dev/null)" = ok ] \
            && [ "$("$SQLITE3_BIN" -batch "$staged" \
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'" 2>/dev/null)" = 1 ]; then
            rm -f "$DATABASE_PATH-wal" "$DATABASE_PATH-shm"
            mv "$staged" "$DATABASE_PATH" \
                || restore_failed "cannot put the database in place" "restore: cannot move the database into $DATABASE_PATH"
            log "restore: database restored from db/$key"
            record_restore ok
            return 0
        fi
        log "restore: db/$key fails its integrity check; trying an older snapshot"
    done
    rm -f "$staged"
    restore_failed "no valid snapshot" "restore: no usable database snapshot in $R2_BUCKET/db/"
}

if [ -e "$DATABASE_PATH" ]; then
    # A short probe: an unreachable R2 must not hold the app back when the volume has its data.
    if r2 lsf --files-only --max-depth 1 --retries 1 --low-level-retries 1 --contimeout 5s --timeout 15s \
        "$REMOTE/db/" >/dev/null; then
        log "booting from the database on the volume"
    else
        log "R2 bucket $R2_BUCKET unreachable at boot: booting from the volume; backups will retry"
    fi
else
    restore_from_r2
fi

# --- 3. schema -------------------------------------------------------------------------------

cd "$APP_DIR" || die "cannot enter $APP_DIR"
"$NODE_BIN" "$DB_PUSH_JS" || die "applying the schema with $DB_PUSH_JS failed"

# --- 4. owner --------------------------------------------------------------------------------

ensure_owner() {
    # Stored exactly as given: the program sends the canonical form (tenants/emails.py), the welcome email
    # shows it as the login, and Alex compares the login email exactly. Lookups ignore case, so an owner
    # a release before this one stored in lowercase is found, and its row takes the given spelling.
    owner="${OWNER_EMAIL:-}"
    case "$owner" in
        *[[:space:]]* | *[[:cntrl:]]* | *@*@* | @* | *@) die "OWNER_EMAIL '$owner' is not an email address" ;;
        *@*) ;;
        *) die "OWNER_EMAIL '$owner' is not an email address" ;;
    esac
    [ "$(printf '%s' "$owner" | tr '[:upper:]' '[:lower:]')" != "$DEFAULT_ADMIN_EMAIL" ] \
        || die "OWNER_EMAIL must not be $DEFAULT_ADMIN_EMAIL"
    q_owner="$(sql_quote "$owner")"
    q_default="$(sql_quote "$DEFAULT_ADMIN_EMAIL")"
    exists="$(db "SELECT count(*) FROM users WHERE lower(email) = lower($q_owner);")" \
        || die "cannot read the users table"
    create_sql=''
    if [ "$exists" = 0 ]; then
        [ -n "${OWNER_INITIAL_PASSWORD:-}" ] \
            || die "OWNER_INITIAL_PASSWORD is not set and owner $owner does not exist yet"
        hash="$("$NODE_BIN" "$HASH_PASSWORD_JS")" || die "hashing OWNER_INITIAL_PASSWORD failed"
        # shellcheck disable=SC2016 # a literal bcrypt prefix, not an expansion
        printf '%s' "$hash" | grep -Eq '^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$' \
            || die "$HASH_PASSWORD_JS did not print a bcrypt hash"
        name="$(sql_quote "${owner%%@*}")"
        # A leftover admin@localhost (a migrated self-hosted library) becomes the owner, so its
        # reading progress and collections stay; otherwise the owner is a new row.
        create_sql="
UPDATE users SET email = $q_owner, password_hash = '$hash', role = 'admin', display_name = $name,
    updated_at = CAST(strftime('%s', 'now') AS INTEGER)
  WHERE email = $q_default;
INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
               || '-' || substr('89ab', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2)
               || '-' || hex(randomblob(6))),
         $q_owner, '$hash', $name, 'admin',
         CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER)
  WHERE NOT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($q_owner));"
    fi
    # SQL goes through stdin, not argv, so the hash is not visible in ps.
    db <<SQL || die "bootstrapping owner $owner failed"
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
$create_sql
-- The owner's row in another case only (an older release lowercased it): it takes the spelling the
-- welcome email shows, unless that would be ambiguous (two rows differing in case: left as they are).
UPDATE users SET email = $q_owner, updated_at = CAST(strftime('%s', 'now') AS INTEGER)
  WHERE lower(email) = lower($q_owner) AND email <> $q_owner
    AND (SELECT count(*) FROM users WHERE lower(email) = lower($q_owner)) = 1;
UPDATE users SET role = 'admin' WHERE lower(email) = lower($q_owner) AND role <> 'admin';
-- The owner existed besides admin@localhost: hand its data over, then delete it.
UPDATE collections SET user_id = (SELECT id FROM users WHERE lower(email) = lower($q_owner))
  WHERE user_id IN (SELECT id FROM users WHERE email = $q_default);
DELETE FROM reading_progress
  WHERE user_id IN (SELECT id FROM users WHERE email = $q_default)
    AND book_id IN (SELECT book_id FROM reading_progress
                    WHERE user_id = (SELECT id FROM users WHERE lower(email) = lower($q_owner)));
UPDATE reading_progress SET user_id = (SELECT id FROM users WHERE lower(email) = lower($q_owner))
  WHERE user_id IN (SELECT id FROM users WHERE email = $q_default);
DELETE FROM users WHERE email = $q_default;
COMMIT;
SQL
    if [ "$exists" = 0 ]; then
        log "owner $owner created as admin"
    else
        log "owner $owner present; password left as the owner set it"
    fi
}

ensure_owner
# Only the owner's first creation needs it; the app never sees it, nor the R2 keys.
unset OWNER_INITIAL_PASSWORD

# --- 6. backup and pull ----------------------------------------------------------------------

# Book sync. The volume is the truth while it exists and R2's books/ mirrors it; the manifest tells
# a book the reader deleted (known, gone from the library) from a book new in R2 (never known, put
# there by a checked upload the companion could not bring in, or a restore that failed to copy it):
# the first moves to deleted/, the second is pulled if the ledger or the companion's mark accounts for
# it, and reported otherwise. Data safety: nothing in R2 is deleted without a manifest (a first boot, a restore), when a
# listing fails, or when the library is missing or empty while the manifest knows books (a broken
# mount must never empty the bucket); deleted books stay under deleted/<UTC>/books/ for
# BOOK_DELETE_GRACE_DAYS before the rotation purges them.

# New files only, staged on the same filesystem and renamed into place, so the watcher never sees
# a half-written book and no local file is ever replaced or deleted. $1 = the keys to pull.
# $2 = a file the keys that could not be copied are added to.
pull_books() {
    incoming="$HOSTED_STATE_DIR/incoming"
    rm -rf "$incoming"
    mkdir -p "$incoming" || return 1
    copy_books "$2" --files-from-raw "$1" "$REMOTE/books" "$incoming" || { rm -rf "$incoming"; return 1; }
    (cd "$incoming" && find . -type f -exec sh -c '
        for f; do
            mkdir -p "$0/$(dirname "$f")" && [ ! -e "$0/$f" ] && mv "$f" "$0/$f"
        done' "$LIBRARY_PATH" {} +)
    rm -rf "$incoming"
}

# Removes deleted/<UTC>/ prefixes older than BOOK_DELETE_GRACE_DAYS.
purge_deleted_books() {
    dirs="$(r2 lsf --dirs-only "$REMOTE/deleted/")" || return 1
    # GNU (and busybox) date: the UTC stamp of now minus the grace period, as a number.
    cutoff="$(date -u -d "@$(($(date -u +%s) - BOOK_DELETE_GRACE_DAYS * 86400))" +%Y%m%d%H%M%S)" || return 1
    for dir in $(printf '%s\n' "$dirs" | grep -E "$DELETED_RE"); do
        [ "$(printf '%s' "$dir" | tr -d 'TZ/')" -lt "$cutoff" ] || continue
        r2 purge "$REMOTE/deleted/${dir%/}" || return 1
        log "books: purged deleted/$dir (deleted more than $BOOK_DELETE_GRACE_DAYS day(s) ago)"
    done
}

# $1 = the cycle's UTC stamp, $2 = final: the app has stopped; no pull and no purge.
sync_books() {
    work="$HOSTED_STATE_DIR/sync"
    rm -rf "$work" && mkdir -p "$work" || return 1
    known="$work/known" here="$work/here" remote="$work/remote" gone="$work/gone"
    keep="$work/keep" new="$work/new" after="$work/after" pulled="$work/pulled"
    trusted="$work/trusted" copy_failed="$work/failed" pull_failed="$work/pull-failed"
    : >"$keep"
    : >"$pulled"
    : >"$copy_failed"
    : >"$pull_failed"
    # Books the companion finished putting in the library (it leaves uploaded/<id>.key once the file
    # is in place, so before this listing): known from now on, so one the reader deletes before a
    # sync saw it is a deletion, not a book new in R2 to pull back.
    marks="$work/marks"
    find "$UPLOADS_DIR" -maxdepth 1 -type f -name '*.key' >"$marks" 2>/dev/null || : >"$marks"
    while IFS= read -r mark; do cat "$mark" && echo; done <"$marks" | grep -v '^$' >"$work/uploaded"
    if [ -f "$BOOKS_MANIFEST" ]; then
        LC_ALL=C sort -u "$BOOKS_MANIFEST" "$work/uploaded" >"$known" || return 1
    else
        LC_ALL=C sort -u "$work/uploaded" >"$known" || return 1
    fi
    if [ ! -d "$LIBRARY_PATH" ]; then
        log "books: WARNING: the library folder $LIBRARY_PATH is missing (volume not mounted?):" \
            "nothing is pushed, pulled or deleted in R2"
        return 1
    fi
    if ! list_keys "$LIBRARY_PATH" "$here"; then
        log "books: listing $LIBRARY_PATH failed: nothing is pushed, pulled or deleted this cycle"
        return 1
    fi
    books_count="$(grep -c '' "$here")"
    failed=0
    remote_ok=yes
    if ! list_keys "$REMOTE/books" "$remote"; then
        log "books: listing $R2_BUCKET/books/ failed: no deletion and no pull this cycle"
        remote_ok=no
        failed=1
    fi

    if [ "$remote_ok" = yes ]; then
        # Known, still in R2, gone from the library: the reader deleted it.
        LC_ALL=C comm -12 "$known" "$remote" | LC_ALL=C comm -23 - "$here" >"$gone"
        if [ ! -s "$gone" ]; then
            :
        elif [ ! -s "$here" ]; then
            log "books: WARNING: the library is empty but $(grep -c '' "$known") book file(s) were" \
                "known: refusing to mirror deletions to $R2_BUCKET (check the volume; a restore needs" \
                "an empty volume); books/ is left as it is"
            cp "$gone" "$keep"
        elif r2 move --files-from-raw "$gone" "$REMOTE/books" "$REMOTE/deleted/$1/books"; then
            log "books: $(grep -c '' "$gone") book file(s) deleted from the library moved to" \
                "deleted/$1/ in $R2_BUCKET (purged after $BOOK_DELETE_GRACE_DAYS day(s))"
        else
            # Some may have moved; those still in books/ are tried again next cycle.
            log "books: moving deleted book files to deleted/$1/ failed"
            cp "$gone" "$keep"
            failed=1
        fi
    fi

    # Only the files listed: one added meanwhile is pushed (and becomes known) next cycle. A file that
    # cannot be copied is reported; the others still go.
    copy_books "$copy_failed" --files-from-raw "$here" "$LIBRARY_PATH" "$REMOTE/books" || failed=1

    if [ "$remote_ok" = yes ] && [ "${2:-}" != final ]; then
        # In R2, not in the library, never known: new. Pulled only if accounted for.
        LC_ALL=C comm -23 "$remote" "$here" | LC_ALL=C comm -23 - "$known" >"$new"
        if [ ! -s "$new" ]; then
            : >"$work/unaccounted"
        elif ! accounted_keys "$new" "$trusted" "$work/unaccounted"; then
            log "books: reading the book ledger or the checked marks failed: no pull this cycle"
            rm -f "$work/unaccounted" # the last report stands
            failed=1
        elif [ -s "$trusted" ]; then
            pull_books "$trusted" "$copy_failed" || failed=1
            if list_keys "$LIBRARY_PATH" "$after"; then
                LC_ALL=C comm -12 "$trusted" "$after" >"$pulled"
                log "pull: $(grep -c '' "$pulled") of $(grep -c '' "$trusted") new book file(s) from" \
                    "$R2_BUCKET/books/ (accounted for by the ledger or the companion's check)"
                # Still trusted next cycle: they stay in the ledger until they arrive.
                LC_ALL=C comm -23 "$trusted" "$after" >"$pull_failed"
            else
                failed=1
            fi
        fi
        [ ! -f "$work/unaccounted" ] || report_unaccounted "$work/unaccounted"
    fi
    LC_ALL=C sort -u "$copy_failed" "$pull_failed" >"$BOOKS_FAILED_FILE.new" \
        && mv "$BOOKS_FAILED_FILE.new" "$BOOKS_FAILED_FILE"

    # Known from now on: what the library held at the listing, what was pulled, and deletions not
    # mirrored yet. Without an R2 listing nothing can be forgotten.
    if [ "$remote_ok" = yes ]; then
        LC_ALL=C sort -u "$here" "$pulled" "$keep" >"$BOOKS_MANIFEST.new" || return 1
    else
        LC_ALL=C sort -u "$here" "$known" >"$BOOKS_MANIFEST.new" || return 1
    fi
    mv "$BOOKS_MANIFEST.new" "$BOOKS_MANIFEST" || return 1
    while IFS= read -r mark; do rm -f "$mark"; done <"$marks"
    # The ledger: what this backup knows, and books it trusts that are still on their way in. Only from
    # a cycle that worked (single books aside): a failed push leaves the last ledger in place.
    if [ "$failed" = 0 ]; then
        LC_ALL=C sort -u "$BOOKS_MANIFEST" "$pull_failed" >"$work/ledger" || return 1
        upload_ledger "$work/ledger" || { log "books: writing the book ledger to $R2_BUCKET failed"; failed=1; }
    fi

    if [ "${2:-}" != final ]; then
        purge_deleted_books || { log "books: purging old deleted/ prefixes failed"; failed=1; }
    fi
    rm -rf "$work"
    return "$failed"
}

# covers/ mirrors the covers folder, deletions included: covers are Alex's own output, with no grace
# period to keep. A missing or empty folder (a volume not mounted, a library not indexed yet) leaves R2
# as it is, so it can never empty covers/. A failure is logged but does not fail the cycle: the books
# and the database are the reader's data, and the next cycle tries the covers again.
sync_covers() {
    if [ ! -d "$COVERS_PATH" ]; then
        log "covers: WARNING: $COVERS_PATH is missing (volume not mounted?): covers/ is left as it is"
        return 1
    fi
    [ -n "$(ls -A "$COVERS_PATH")" ] || return 0
    r2 sync "$COVERS_PATH" "$REMOTE/covers" || {
        log "covers: syncing $COVERS_PATH to $R2_BUCKET/covers/ failed"
        return 1
    }
}

rotate_snapshots() {
    [ -n "$BACKUP_KEEP" ] || return 0
    keys="$(list_snapshots)" || return 1
    count="$(printf '%s\n' "$keys" | grep -c .)"
    excess=$((count - BACKUP_KEEP))
    [ "$excess" -gt 0 ] || return 0
    old="$BACKUP_TMP_DIR/rotate.list"
    printf '%s\n' "$keys" | head -n "$excess" >"$old"
    r2 delete --files-from-raw "$old" "$REMOTE/db" || return 1
    log "backup: removed $excess old snapshot(s), keeping $BACKUP_KEEP"
}

snapshot_db() {
    mkdir -p "$BACKUP_TMP_DIR" || return 1
    key="library-$1.db"
    snap="$BACKUP_TMP_DIR/$key"
    rm -f "$snap"
    # VACUUM INTO reads one consistent transaction of the live WAL database.
    db "VACUUM INTO $(sql_quote "$snap");" || { log "backup: snapshot of $DATABASE_PATH failed"; return 1; }
    sum="$(sha256sum <"$snap" | cut -d' ' -f1)"
    if [ "$sum" = "$(cat "$HOSTED_STATE_DIR/last-snapshot.sha256" 2>/dev/null)" ]; then
        rm -f "$snap"
        return 0
    fi
    if ! r2 copyto "$snap" "$REMOTE/db/$key"; then
        rm -f "$snap"
        return 1
    fi
    rm -f "$snap"
    printf '%s\n' "$sum" >"$HOSTED_STATE_DIR/last-snapshot.sha256"
    put_state "$LAST_SNAPSHOT_FILE" "db/$key"
    log "backup: uploaded db/$key"
    rotate_snapshots
}

# $1 = final: the app has stopped; skip the pull.
backup_cycle() {
    # Stamped at the start: cycles start at least a second apart, so their keys never collide.
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    cycle_failed=0
    books_count=''
    sync_books "$stamp" "${1:-}" || cycle_failed=1
    # Before the snapshot: every cover it names is in R2 by the time it is.
    sync_covers || log "covers: WARNING: not all covers are in $R2_BUCKET/covers/ yet; the next cycle tries again"
    snapshot_db "$stamp" || cycle_failed=1
    if [ "$cycle_failed" = 1 ]; then
        log "backup: R2 sync with $R2_BUCKET failed; retrying in ${BACKUP_INTERVAL_SECONDS}s"
        return 1
    fi
    # The health status says when the tenant's data was last safe: the time the cycle started.
    iso="$(printf '%s' "$stamp" | sed -E 's/^(....)(..)(..)T(..)(..)(..)Z$/\1-\2-\3T\4:\5:\6Z/')"
    put_state "$LAST_BACKUP_FILE" "$iso"
    [ -z "$books_count" ] || put_state "$BOOKS_COUNT_FILE" "$books_count"
    write_health
    log "backup: synced with $R2_BUCKET"
    return 0
}

# --- 5. supervise ----------------------------------------------------------------------------

# The app gets neither the R2 keys nor the owner's password. It listens on loopback only: readers
# reach it through the companion.
start_server() {
    # HOSTNAME is the address Next binds; the platform may set it to the machine's name.
    (unset R2_ACCESS_KEY_ID R2_SECRET_ACCESS_KEY; HOSTNAME="$SERVER_BIND" PORT="$ALEX_PORT" exec "$NODE_BIN" "$SERVER_JS") &
    server_pid=$!
    log "server started (pid $server_pid, $SERVER_BIND:$ALEX_PORT)"
}

start_watcher() {
    (unset R2_ACCESS_KEY_ID R2_SECRET_ACCESS_KEY; exec "$WATCHER_RS_BIN") &
    watcher_pid=$!
    log "watcher started (pid $watcher_pid)"
}

# The companion (uploads; proxies everything else to Alex) signs R2 uploads, so it keeps the R2 keys,
# and judges Alex's sessions itself, so it gets NEXTAUTH_SECRET and reads (never writes) the database.
# Its only state is who signed out, on the volume, so a dead one is simply restarted.
start_companion() {
    (COMPANION_PORT="$COMPANION_PORT" ALEX_URL="$ALEX_URL" \
        HOSTED_UPLOADS_DIR="$UPLOADS_DIR" UPLOAD_STAGING_PREFIX="$STAGING_PREFIX" \
        HOSTED_SIGNOUTS_FILE="$SIGNOUTS_FILE" SQLITE3_BIN="$SQLITE3_BIN" \
        exec "$COMPANION_NODE_BIN" "$COMPANION_JS") &
    companion_pid=$!
    log "companion started (pid $companion_pid, port $COMPANION_PORT, proxying to $ALEX_URL)"
}

alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

stopping=''
trap 'stopping=TERM' TERM
trap 'stopping=INT' INT
trap 'stopping=HUP' HUP

start_watcher
start_server
start_companion
backup_pid=''
next_backup=0
watcher_restart_at=''
companion_restart_at=''
exit_code=0

while [ -z "$stopping" ]; do
    now="$(date +%s)"
    if ! alive "$server_pid"; then
        wait "$server_pid"
        exit_code=$?
        [ "$exit_code" != 0 ] || exit_code=1
        log "server exited (status $exit_code): stopping the machine"
        break
    fi
    if [ -n "$watcher_pid" ] && ! alive "$watcher_pid"; then
        wait "$watcher_pid"
        log "watcher exited (status $?); restarting in ${WATCHER_RESTART_DELAY_SECONDS}s"
        watcher_pid=''
        watcher_restart_at=$((now + WATCHER_RESTART_DELAY_SECONDS))
    fi
    if [ -z "$watcher_pid" ] && [ "$now" -ge "$watcher_restart_at" ]; then
        start_watcher
    fi
    if [ -n "$companion_pid" ] && ! alive "$companion_pid"; then
        wait "$companion_pid"
        log "companion exited (status $?); restarting in ${COMPANION_RESTART_DELAY_SECONDS}s"
        companion_pid=''
        companion_restart_at=$((now + COMPANION_RESTART_DELAY_SECONDS))
    fi
    if [ -z "$companion_pid" ] && [ "$now" -ge "$companion_restart_at" ]; then
        start_companion
    fi
    if [ "$now" -ge "$next_backup" ] && ! alive "$backup_pid"; then
        backup_cycle &
        backup_pid=$!
        next_backup=$((now + BACKUP_INTERVAL_SECONDS))
    fi
    # sleep in the background so a signal interrupts wait at once; wait also reaps dead children.
    sleep "$SUPERVISE_TICK_SECONDS" &
    wait $!
done

# The companion goes first with the app: the final backup then sees every book it finished writing.
[ -z "$stopping" ] || log "received SIG$stopping: stopping"
for pid in ${companion_pid:-} ${server_pid:-} ${watcher_pid:-}; do
    alive "$pid" && kill -TERM "$pid" 2>/dev/null
done
deadline=$(($(date +%s) + STOP_TIMEOUT_SECONDS))
while { alive "$server_pid" || alive "$watcher_pid" || alive "$companion_pid"; } \
    && [ "$(date +%s)" -lt "$deadline" ]; do
    sleep 0.2 &
    wait $!
done
for pid in ${companion_pid:-} ${server_pid:-} ${watcher_pid:-}; do
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
done
wait "$server_pid" 2>/dev/null
if alive "$backup_pid"; then
    log "waiting for the running backup"
    wait "$backup_pid"
fi
log "final backup"
if backup_cycle final; then
    log "final backup done"
else
    log "final backup failed; the last good snapshot in $R2_BUCKET stays the newest"
fi
exit "$exit_code"
