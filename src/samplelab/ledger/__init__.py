"""The results ledger: the SQLite store of finished runs and the leases on ensembles being trained."""
