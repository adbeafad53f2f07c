"""Experiments on finished runs: evaluation reports, side-by-side comparisons, seeded sweeps.

  report   restore a run, predict a split, write metrics JSON + confusion/ROC/PR/gallery PNGs
  compare  train or reuse several configs on the same data; one table (CSV, Markdown) + one ROC figure
  sweep    one config field over several values x seeds; mean and spread per value
  runs     config files, overrides, and the finished-run check compare and sweep share
"""
from cnnlab.experiments import compare, report, runs, sweep
from cnnlab.experiments.compare import compare as compare_configs
from cnnlab.experiments.compare import compare_files
from cnnlab.experiments.report import classification_report, predict_split, write_report
from cnnlab.experiments.sweep import sweep as sweep_field

__all__ = ["compare", "report", "runs", "sweep", "compare_configs", "compare_files",
           "classification_report", "predict_split", "write_report", "sweep_field"]
