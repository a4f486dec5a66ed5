"""Deterministic raw test data for retail-etl, with the counts a correct pipeline must produce.

The generator is an independent source of truth: it shares only names and constants with the
cleaning code (`retail_etl.domain.contract`), never its logic.
"""

from retail_etl.generator.config import MessConfig
from retail_etl.generator.dataset import MANIFEST_KEY, generate_dataset

__all__ = ["MANIFEST_KEY", "MessConfig", "generate_dataset"]
