"""Read the server port from the environment."""


def parse_port(text, default=8080):
    """Return text as a TCP port number; the default when text is empty, not a number, or out of range."""
    if not text:
        return default
    port = int(text.strip())
    if not 0 < port < 65536:
        return default
    return port
