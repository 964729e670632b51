"""The LADS address space of the emulated devices (docs/opcua.md).

nodesets  the official DI, AMB, Machinery and LADS nodesets into a server, once per process
instances instantiation with every mandatory child of each node's TypeDefinition
space     one device's address space and the values it publishes
results   Results in the ResultSet (cloned after the first of a shape)
methods   method handlers and value setters (role-guarded)
access    the calling session's user, ``guarded(role)`` and ``require(role)``
sampling  requested sampling intervals honoured by the server's monitored items
"""
