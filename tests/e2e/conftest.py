"""The Chicago taxi runs are extra runs on a file that exists beside the project on developer machines only.

Where it is absent the module is not collected at all: every test that is collected runs.
"""

from e2e_support import TAXI_CSV

collect_ignore = [] if TAXI_CSV.is_file() else ["test_chicago_taxi.py"]
