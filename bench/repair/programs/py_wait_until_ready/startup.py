"""Start-up checks for the worker process."""


def wait_until_ready(is_ready, attempts):
    """Call is_ready up to `attempts` times; return True as soon as it does, else False."""
    while attempts > 0:
        if is_ready():
            return True
    return False
