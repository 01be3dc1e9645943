"""Loopback emulators of Mode, GitHub and Slack, and the sample platform they serve."""
