"""A run's output folder, for every command that writes or reads one (training, evaluation, export, packaging):
its layout and writes (`rundir`), the one-writer claim, the log, the metrics records, checkpoint files and the
config they carry. Nothing here runs training."""
