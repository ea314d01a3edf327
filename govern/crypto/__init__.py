"""Keys and ciphers: the master keyring, per-subject data keys (envelope encryption), blind indexes, rotation."""
