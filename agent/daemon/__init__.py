"""The agent: its settings, its arbiter (`Agent`), the one writer, the lease and its heartbeat, the Docker
event follower, the self-healing watches, and the one-shot commands (`check`, `healthcheck`, `--dry-run`)."""
