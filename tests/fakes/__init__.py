"""In-memory stand-ins for etcd and Docker, for unit tests that drive the writer and the lease directly."""
