"""Captures and other files: their types, scans and hashes, payloads, PE
executables, and argus/ra runs that turn captures into flows."""
