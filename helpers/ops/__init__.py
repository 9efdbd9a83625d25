"""Operating a deployed pipeline: find and delete a prefix's resources, redrive, follow orders,
read logs, metrics and alarms."""
