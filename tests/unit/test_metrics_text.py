"""The Prometheus text of our own small metrics types."""

from agent.metrics import Counter, Histogram, number


def test_numbers_keep_their_precision():
    assert number(3) == "3"
    assert number(1795330000.25) == "1795330000.25"


def test_counter_labels_are_escaped():
    counter = Counter("things_total", "Things.", ("name",))
    counter.inc('a"b\\c\nd')
    assert list(counter.samples()) == ['service_registrator_things_total{name="a\\"b\\\\c\\nd"} 1']


def test_histogram_buckets_are_cumulative():
    histogram = Histogram("seconds", "Seconds.", (0.1, 1))
    for value in (0.05, 0.5, 5):
        histogram.observe(value)
    assert list(histogram.samples()) == [
        'service_registrator_seconds_bucket{le="0.1"} 1', 'service_registrator_seconds_bucket{le="1"} 2',
        'service_registrator_seconds_bucket{le="+Inf"} 3', "service_registrator_seconds_sum 5.55",
        "service_registrator_seconds_count 3"]
