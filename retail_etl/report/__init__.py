"""Rendering of `retail-etl report`: the page (`html.py`) and its SVG charts (`svg.py`)."""
