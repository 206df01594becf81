"""The operator side: the fleet collector, alert rules, dashboard and status data, quota, export bundles,
R2 object access, pricing and the GitHub issues client. Used by scripts/, never by `pulumi up`.

May import components/ (the names it gives: machine config, bucket names), config/, providers/fly/ (the
client, to read Fly), tenants/ and common/; never components.program.
"""
