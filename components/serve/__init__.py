"""Serving the registry's models: a local inference server with a request log (local.py), the KServe
objects (kserve.py), the cluster verbs deploy / canary / promote / rollback (verbs.py, cluster.py) and the
registry's side of them (registry.py). `python -m components.serve` is the command line."""
