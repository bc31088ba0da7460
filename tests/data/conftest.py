"""The Chicago taxi check is an extra run on a file that exists beside the project on developer machines only.

Where it is absent the module is not collected at all: every test that is collected runs.
"""

from pathlib import Path

TAXI_CSV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chicago_taxi" / "data.csv"

collect_ignore = [] if TAXI_CSV.is_file() else ["test_chicago_taxi_data.py"]
