"""`python -m scripts.export --stack S --tenant ID`: a zip of a tenant's books and latest database backup.

Reads the tenant's bucket (`books/<path>` book files; the newest valid `db/library-<YYYYMMDDTHHMMSSZ>.db`
snapshot, the one the tenant's image would restore), builds the zip in a temporary file on disk (a
tenant may hold gigabytes; each object is streamed in), stores it as `exports/<id>-<time>.zip` in the
same bucket and prints a time-limited download link (an S3 presigned URL). Works for active, suspended
and cancelled tenants until `purge_after`; refuses purging ones. The work is ops/export_bundle.py's.

Credentials: an operator R2 key in R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY; endpoint from the stack
(`https://<account>.r2.cloudflarestorage.com`) unless R2_ENDPOINT is set.
Exit codes: 0 exported, 1 exported without a database backup or nothing to export, 2 could not run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from components.machine_config import bucket_name
from ops.export_bundle import MAX_EXPIRES_S, check_exportable, export_tenant
from ops.r2 import BadInput, r2_client
from scripts import cli


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.stack_parser("export", __doc__ or "")
    parser.add_argument("--tenant", required=True, metavar="ID", help="the tenant id (roster field id)")
    parser.add_argument(
        "--expires",
        type=cli.whole_number,
        default=86400,
        metavar="SECONDS",
        help="link lifetime (default 86400, max 604800)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON envelope instead of text")
    parser.add_argument("--now", help="the current time, ISO (for tests)")
    parser.add_argument("--timeout", type=cli.seconds, default=30.0, help="S3 timeout in seconds (default 30)")
    args = parser.parse_args(argv)
    if not 1 <= args.expires <= MAX_EXPIRES_S:
        raise cli.UsageError(f"--expires: expected 1 to {MAX_EXPIRES_S} seconds, got {args.expires}")
    now = cli.parse_now(args.now)
    config, tenants = cli.load_stack(args)
    tenant = cli.find_tenant(tenants, args.tenant, args.stack)
    check_exportable(tenant, now.date())
    key_id = cli.require_credential("R2_ACCESS_KEY_ID", "an operator R2 key with read and write on tenant buckets")
    secret = cli.require_credential("R2_SECRET_ACCESS_KEY", "the secret of that R2 key")
    endpoint = os.environ.get("R2_ENDPOINT") or config.r2_endpoint
    source = "R2_ENDPOINT" if os.environ.get("R2_ENDPOINT") else f"the r2 endpoint of stack {args.stack}"
    try:
        client = r2_client(endpoint, key_id, secret, timeout=args.timeout, endpoint_name=source)
    except BadInput as exc:
        raise cli.CliError(str(exc)) from None
    result = export_tenant(client, tenant, endpoint, now, args.expires, cli.progress)
    if result is None:
        message = f"bucket {bucket_name(tenant.id)} holds no books and no database backup: nothing to export"
        if args.json:
            empty: dict[str, Any] = {"tenant": tenant.id, "export": None, "note": message}
            cli.print_json("export", args.stack, cli.EXIT_ATTENTION, empty)
        else:
            print(message)
        return cli.EXIT_ATTENTION
    code = cli.EXIT_OK if result.database else cli.EXIT_ATTENTION
    if args.json:
        data: dict[str, Any] = {"tenant": tenant.id, "export": asdict(result)}
        cli.print_json("export", args.stack, code, data)
        return code
    print(
        f"tenant {tenant.id} ({tenant.username}, {tenant.state}): {result.books} book(s), "
        f"database {result.database or 'MISSING (no db/library-*.db backup found)'}, "
        f"{cli.human_bytes(result.zip_bytes)} zip stored at {result.bucket}/{result.key}"
    )
    print(f"download link, valid until {result.expires_at.strftime('%Y-%m-%d %H:%M UTC')}:")
    print(result.url)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("export", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
