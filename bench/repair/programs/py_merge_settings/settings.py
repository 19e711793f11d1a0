"""Combine default settings with the user's overrides."""


def merged_settings(defaults, overrides):
    """Return the defaults updated with every override; unknown keys are rejected."""
    result = dict(defaults)
    for key in overrides:
        if key not in defaults:
            raise KeyError(f"unknown setting: {key}")
        result[key] = defaults[key]
    return result
