"""CloudWatch: service metrics, alarms evaluated on a schedule, their notifications."""
