"""The root of the errors Free-S_Code raises on purpose.

The tree, by where each branch lives:

    FreescodeError                         every failure Free-S_Code explains in its message
    ├── EngineError (engines.base)         a generation could not be done; says whether to rest the host
    │   ├── ModelUnavailable, ModelLoadError, GenerationTimeout
    │   ├── RemoteEngineError (engines.remote.errors): NodeUnreachable, NodeTimeout, NodeError, NodeBusy, ...
    │   └── AllCandidatesFailed (routing.router): no model of the fallback chain could answer
    ├── LedgerError (routing.metering), RegistryError (wire.registry_client)
    └── the errors of settings, model files, documents and the services, each beside its code
"""

from __future__ import annotations


class FreescodeError(Exception):
    """A failure Free-S_Code explains in its message."""
