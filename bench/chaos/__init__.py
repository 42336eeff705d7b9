"""A seeded chaos run: random container churn and random faults on three hosts, and etcd exact at every quiet
point (`make chaos SEED=… MINUTES=…`; a short run is part of `make test`)."""
