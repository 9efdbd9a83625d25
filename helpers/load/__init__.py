"""Notebook 07: send load, kill execution environments (chaos), account for every order (ledger)."""
