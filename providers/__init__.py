"""What runs in a Pulumi dynamic-provider process: the Fly Machines resources (fly/), the owner email
and its SMTP client. Their classes are pickled by reference into the stack state (docs/design.md).

May import config/, tenants/ and common/; never components/ or anything above.
"""
