"""The stack's configuration: its keys, the parsed stack config, hostnames, shards, the edge map, SMTP settings.

Read by `pulumi up`, the providers and the operator scripts alike. May import tenants/ and common/ only.
"""
