"""What `pulumi up` declares: the ComponentResources (tenant, edge, signup site, storage, owner emails),
the machine config they give Fly, and the program that wires them from the roster (program.py).

May import providers/, config/, tenants/ and common/; never ops/, billing/, signup/ or scripts/.
"""
