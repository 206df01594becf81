"""The provider classes at the module paths the stack state of earlier releases names (`__provider`).

Each module re-exports its class from providers/fly/ so a resource made before the move still loads in
the provider process (its delete and read run the provider pickled in state). Nothing new imports these.
"""
