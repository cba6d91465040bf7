"""Inventory: the stock ledger per SKU and location (ledger.py) and its Faust glue."""
