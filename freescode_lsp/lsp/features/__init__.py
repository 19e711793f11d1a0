"""Language server features; each module exposes `register(server)`."""
