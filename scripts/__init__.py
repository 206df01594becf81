"""Operator CLIs, each `python -m scripts.<name> --help`: thin over ops/, billing/ and config/.

The top floor: may import anything; nothing imports it except tests and emulators.
"""
