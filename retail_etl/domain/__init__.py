"""The pure domain core: contracts, cleaning, enrichment, aggregation. No AWS calls here."""
