"""The route table: every surface's routes; a request matching none is unknown (answered 404, and logged)."""

from __future__ import annotations

from emulators.cloudflare import graphql, routes_dns, routes_r2, routes_tokens
from emulators.cloudflare.api import Route

ROUTES: list[Route] = [*routes_r2.ROUTES, *routes_tokens.ROUTES, *routes_dns.ROUTES, *graphql.ROUTES]
