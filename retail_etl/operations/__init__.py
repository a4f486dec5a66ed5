"""Operator tasks behind the CLI (status, replay, backfill), for a local run or a deployed stack."""
