"""Dynamic providers over Fly's Machines API: app, IPs, secrets, volume, machine, certificate, and the
client under them (retries, rate limits, leases). May import config/, tenants/ and common/.
"""
