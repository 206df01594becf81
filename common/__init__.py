"""Small shared helpers with no project knowledge: redaction, Retry-After, operator errors, sizes, the
config a provider process received, the checks on dynamic-provider inputs.

Imports nothing of the project (not even tenants/); every other package may import it.
"""
