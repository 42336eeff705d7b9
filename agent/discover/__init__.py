"""`service-registrator discover`: haproxy routes from the backends layout."""
