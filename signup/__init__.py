"""The signup site: plans, a username, an email, Stripe Checkout; the webhook that triggers the Stripe sync.

See signup/README.md. Nothing here writes a roster: the Stripe sync workflow does, when this app asks.
"""
