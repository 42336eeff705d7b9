"""The /metrics text: our metric names, the process_* metrics, and the status figures of the moment."""

from agent import metrics


def test_names_process_metrics_and_figures():
    metrics.REGISTRATIONS.labels('a"b').inc()
    text = metrics.render({"ready": 1.0, "written_keys": 17.0})
    assert 'service_registrator_registrations_total{result="a\\"b"} 1.0' in text
    assert "process_resident_memory_bytes" in text
    assert "service_registrator_ready 1.0" in text
    assert "service_registrator_written_keys 17.0" in text
    assert 'service_registrator_build_info{version="' in text
    assert "_created" not in text


def test_histogram_buckets_are_cumulative():
    for value in (0.0005, 0.3, 5):
        metrics.KEEPALIVE_SECONDS.observe(value)
    lines = dict(line.rsplit(" ", 1) for line in metrics.render({}).splitlines() if not line.startswith("#"))
    first = float(lines['service_registrator_lease_keepalive_seconds_bucket{le="0.001"}'])
    middle = float(lines['service_registrator_lease_keepalive_seconds_bucket{le="0.5"}'])
    total = float(lines['service_registrator_lease_keepalive_seconds_bucket{le="+Inf"}'])
    assert first >= 1 and middle >= first + 1 and total >= middle + 1
