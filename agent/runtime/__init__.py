"""What the long-running commands (the agent and `discover`) share: the arbiter, waiting for a dependency at
start-up, and the watch reader that follows one etcd prefix without gaps."""
