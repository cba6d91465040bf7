"""Parcels followed to the door: scans, shipments and delivery-exception rules."""
