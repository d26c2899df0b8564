"""Errors a user can cause. Entry points print their message on one line and exit non-zero."""


class WrnError(Exception):
    """Base of every user-facing error: the message alone must say what and where."""


class ConfigError(WrnError):
    """A config key, value or recipe is invalid."""


class DataError(WrnError):
    """The data folder, its layout or a data file is invalid."""


class CheckpointError(WrnError):
    """A checkpoint is missing, unreadable or of another architecture."""


class RunDirError(WrnError):
    """The run directory (train_url) cannot be used."""


class LaunchError(WrnError):
    """The launch environment is inconsistent (rank, size, rank table)."""


class TrainingError(WrnError):
    """Training cannot go on (e.g. the loss became nan or inf)."""


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; `kept` says what the interrupted command leaves behind."""

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(signal_name)
        self.signal_name, self.exit_code, self.kept = signal_name, exit_code, ""
