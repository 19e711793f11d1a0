"""Human-readable timings for the build log."""


def format_duration(seconds):
    """Return a duration as H:MM:SS, e.g. 3725 -> '1:02:05'."""
    if seconds < 0:
        raise ValueError("duration must not be negative")
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes}:{secs}"
