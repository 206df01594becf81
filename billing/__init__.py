"""The Stripe reconciler behind `scripts.stripe_sync`, and the settling of a lost username race.

Beside the program: may import config/, providers/ (the SMTP client), components.email_templates, tenants/ and common/.
"""
