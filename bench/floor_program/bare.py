"""The floor program's resource: a dynamic provider that does no I/O (importable, so it is pickled by
reference as the program's providers are)."""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class BareProvider(ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["name"], outs=props)


class Bare(Resource, module="bench", name="Bare"):
    def __init__(self, name: str, payload: str) -> None:
        super().__init__(BareProvider(), name, {"name": name, "payload": payload})
