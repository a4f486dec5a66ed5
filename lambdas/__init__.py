"""Thin AWS Lambda entry points: parse the event, call retail_etl, report the outcome."""
