"""`python -m retail_etl …` runs the command line."""

import gc

from retail_etl.cli import main
from retail_etl.memory import configure_memory

configure_memory()
code = main()
# The heap dies with the process: freezing it skips the interpreter's final collections over
# it, which took about 2 s after `run` on 3M events (every emulated object is in memory).
gc.freeze()
raise SystemExit(code)
