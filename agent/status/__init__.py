"""`service-registrator status`: the whole registry read once, one row per host, and what looks wrong."""
