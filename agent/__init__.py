"""service-registrator: keeps etcd v3 an exact picture of one Docker host's running containers."""

__version__ = "0.1.0"
