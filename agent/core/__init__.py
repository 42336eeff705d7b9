"""The pure core: plain values and decisions, no I/O, no gevent. What the host wants, what it wrote, what
changed, and the plans that make etcd exact; the adapters feed it, the daemon acts on what it returns."""
