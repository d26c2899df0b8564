"""Where a run executes: launch topology and devices, storage (local, OBS, MoXing), staging, ModelArts jobs."""
