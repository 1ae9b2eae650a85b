"""The database: opening storages, one transaction per command, ZEO sharing
(server, local sharing, TLS) and the ZEO hooks stf relies on."""
