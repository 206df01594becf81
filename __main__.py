"""Hosted Alex: make the cloud match the roster. See components/program.py."""

from components.program import run

run()
