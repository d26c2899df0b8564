"""Where a run executes: launch topology, rank tables and devices, msrun launches, storage (local, OBS, MoXing),
staging, and ModelArts (training jobs, models, real-time services)."""
