"""CIFAR data as files, numpy only (no MindSpore): the formats and each data set's classes (`formats`), checked
records (`records`), folder layouts (`layout`), the official downloads and the demo set (`sources`)."""

from wrn.cifar.formats import (CIFAR10, CIFAR100, EVAL_FILE, FORMATS, IMAGE_BYTES, RECORD_BYTES, TRAIN_FILES,
                               CifarFormat, cifar_format, dataset_classes)
from wrn.cifar.layout import Layout, check_layout, find_eval_file, find_layout
from wrn.cifar.records import check_file, read_records, write_records
from wrn.cifar.sources import download, make_demo

__all__ = ["CIFAR10", "CIFAR100", "EVAL_FILE", "FORMATS", "IMAGE_BYTES", "RECORD_BYTES", "TRAIN_FILES", "CifarFormat",
           "Layout", "check_file", "check_layout", "cifar_format", "dataset_classes", "download", "find_eval_file", "find_layout",
           "make_demo", "read_records", "write_records"]
