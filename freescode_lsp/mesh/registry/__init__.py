"""The registry (`freescode registry serve`): the catalog and the hosts serving each model now, with leases and probes."""
