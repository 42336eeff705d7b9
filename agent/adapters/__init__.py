"""The edges: the only modules that talk to etcd (etcd3gw, requests), to Docker (docker) and to HTTP clients
(gevent's WSGI server). They turn what those say into the core's plain values and errors."""
