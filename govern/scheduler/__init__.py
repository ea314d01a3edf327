"""The built-in scheduler: jobs on the schedules of policies/schedules.yaml, each run once across hosts."""
