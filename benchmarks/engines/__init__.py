"""Engines: `clean_enrich(input_dir, out_dir)` and `aggregate(curated_dir, out_dir)` each."""
