"""Feature flags read from a parsed config file."""


def flag_enabled(config, name):
    """Return whether the feature flag `name` is on; a flag missing from config['flags'] is off."""
    flags = config.get("flags", {})
    return bool(flags[name])
