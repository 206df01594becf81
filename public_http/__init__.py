"""The public HTTP stack of the signup site and the Stripe webhook receivers: uvicorn (h11) with a
per-peer connection cap and a request-head deadline, and an ASGI guard with per-client request slots
and the body rules. See docs/design.md (the signup site)."""
