"""`python -m retail_etl …` runs the command line."""

from retail_etl.cli import main

raise SystemExit(main())
