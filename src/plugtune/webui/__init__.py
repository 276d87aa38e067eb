"""The web UI behind ``plugtune webui``: a FastAPI app over the runs folder.

Configure a run from the registries and the config schema, launch it as its own
``plugtune train`` process, watch its curves by tailing ``trainer_log.jsonl``, compare
runs, chat with a run's adapter and score it. Everything the page shows comes from the
runs folder, so reloading the page (or restarting the server) loses nothing.
"""
