"""Remote read with streamed XOR chunks (portal/promchunks.py, PrometheusClient.read_runs) and
the integration over runs (portal/gputime.integrate_runs): on a real Prometheus, the samples
read as runs are exactly those the query API returns, and the integral over runs equals the
per-sample one for regular, jittered, gapped and value-changing series."""

import random
import struct
import time

import pytest

from portal import promchunks
from portal.gputime import RunIntegrator, integrate, integrate_runs
from portal.prometheus import PrometheusClient, RemoteReadUnsupported


def test_selector_becomes_remote_read_matchers():
    assert promchunks.parse_selector('kube_x{resource="nvidia_com_gpu",node!="",a=~"b.*"}') == [
        (0, "__name__", "kube_x"),
        (0, "resource", "nvidia_com_gpu"),
        (1, "node", ""),
        (2, "a", "b.*"),
    ]
    assert promchunks.parse_selector("{a!~'x\\'y'}") == [(3, "a", "x'y")]


@pytest.mark.parametrize("selector", ["sum(x)", "x[5m]", 'x{a="b" or c="d"}', "{}"])
def test_a_selector_that_is_not_plain_is_refused(selector):
    with pytest.raises(promchunks.UnsupportedSelector):
        promchunks.parse_selector(selector)


def test_runs_merge_only_when_they_continue_with_the_same_step_and_value():
    runs: list = []
    for run in [(0, 60, 3, 1.0), (180, 0, 1, 1.0), (240, 60, 2, 1.0), (330, 0, 1, 1.0)]:
        promchunks.append_run(runs, run)
    assert runs == [(0, 60, 6, 1.0), (330, 0, 1, 1.0)]
    assert promchunks.clip([(0, 60, 6, 1.0)], 60, 180) == [(60, 60, 2, 1.0)]
    assert promchunks.clip([(0, 60, 6, 1.0)], 61, 120) == []


def test_integrate_runs_matches_integrate_on_samples():
    rng = random.Random(3)
    series_runs, series_samples = [], []
    for s in range(40):
        runs: list = []
        t = rng.randint(0, 3_000_000)
        value = rng.choice([0.0, 1.0, 2.0, 4.0])
        while t < 4 * 3_600_000:
            promchunks.append_run(runs, (t, 0, 1, value))
            t += rng.choice([60_000] * 8 + [59_500, 61_250, 15_000, 900_000])
            if rng.random() < 0.03:
                value = rng.choice([0.0, 1.0, 2.0, 0.5])
        labels = {"k": str(s % 7)}
        series_runs.append((labels, runs))
        samples = [(t0 / 1000 + k * d / 1000, v) for t0, d, n, v in runs for k in range(n)]
        series_samples.append((labels, samples))
    bounds = [float(h * 3600) for h in range(5)]
    cuts = [[1800.5], [], [100.0 + 7200, 3000.0 + 7200], []]
    expected = integrate(series_samples, lambda labels: labels["k"], bounds, cuts)
    got = integrate_runs(series_runs, lambda labels: labels["k"], bounds, cuts)
    assert [sorted(w) for w in got[0]] == [sorted(w) for w in expected[0]]
    for w_got, w_exp in zip(got[0], expected[0], strict=True):
        for key, value in w_exp.items():
            assert w_got[key] == pytest.approx(value, rel=1e-9)
    for c_got, c_exp in zip(got[1], expected[1], strict=True):
        for g, e in zip(c_got, c_exp, strict=True):
            assert g.keys() == e.keys()
            assert all(g[k] == pytest.approx(e[k], rel=1e-9) for k in e)


def test_series_integrated_one_at_a_time_give_what_all_at_once_give():
    """RunIntegrator (the remote read's series integrated as decoded): a series with a single
    sample, added before the others, still spans the median of the intervals seen after it."""
    series = [
        ({"k": "lone"}, [(1_000_000, 0, 1, 2.0)]),
        ({"k": "a"}, [(0, 60_000, 50, 1.0), (3_000_000, 0, 1, 4.0)]),
        ({"k": "b"}, [(30_000, 30_000, 100, 1.0)]),
        ({"k": "c"}, [(5_000, 60_000, 10, 1.0)]),
    ]
    bounds, cuts = [0.0, 1800.0, 3600.0], [[900.0], []]
    at_once = integrate_runs(series, lambda labels: labels["k"], bounds, cuts)
    integrator = RunIntegrator(lambda labels: labels["k"], bounds, cuts)
    for labels, runs in reversed(series):
        integrator.add(labels, runs)
    assert integrator.result() == at_once
    # the lone sample spans the median interval of the three others (60 s)
    assert at_once[0][0]["lone"] == 2.0 * 60
    samples = [
        (labels, [(t / 1000 + k * d / 1000, v) for t, d, n, v in r for k in range(n)])
        for labels, r in series
    ]
    assert at_once == integrate(samples, lambda labels: labels["k"], bounds, cuts)


@pytest.mark.prometheus
def test_remote_read_returns_exactly_the_samples_of_the_query_api(prometheus_server):
    rng = random.Random(5)
    t0 = (int(time.time()) // 3600 - 30) * 3600
    run = f"rr{rng.randrange(10**9)}"
    lines = ["# TYPE promchunks_test gauge"]
    for s in range(8):
        t, value, kind = t0 + rng.randint(0, 3000) + rng.random(), rng.choice([1, 2, 4]), s % 4
        while t < t0 + 12 * 3600:
            lines.append(f'promchunks_test{{run="{run}",s="{s}"}} {value} {round(t, 3)}')
            if kind == 0:  # regular: whole chunks are runs
                t += 60
            elif kind == 1:  # jitter
                t += 60 + rng.choice([-0.5, 0, 0.25, 3])
            elif kind == 2:  # 15 s with long gaps
                t += 15 if rng.random() > 0.02 else 900
            else:  # value changes
                t += 30
                if rng.random() < 0.05:
                    value = rng.choice([0, 1, 2, 4, 0.5])
    prometheus_server.backfill("\n".join([*lines, "# EOF"]) + "\n")
    client = PrometheusClient(prometheus_server.url, timeout=30)
    start, end = t0 + 1800, t0 + 11 * 3600
    runs = client.read_runs(f'promchunks_test{{run="{run}"}}', start * 1000, end * 1000)
    samples = client.query(
        f'promchunks_test{{run="{run}"}}[{(end - start) * 1000 - 1}ms]', at=end - 0.001
    )
    got = {
        labels["s"]: [(t + k * d, v) for t, d, n, v in r for k in range(n)] for labels, r in runs
    }
    want = {s["labels"]["s"]: [(round(t * 1000), v) for t, v in s["values"]] for s in samples}
    assert got == want and len(got) == 8
    by_series = {labels["s"]: r for labels, r in runs}
    assert len(by_series["0"]) == len(by_series["4"]) == 1  # a regular series is one run


@pytest.mark.prometheus
def test_remote_read_refuses_a_selector_it_cannot_send(prometheus_server):
    client = PrometheusClient(prometheus_server.url, timeout=10)
    with pytest.raises(RemoteReadUnsupported):
        client.read_runs("sum(up)", 0, 1000)


def test_a_chunk_of_zero_bits_after_the_second_sample_is_one_run():
    # XOR chunk: 3 samples; t0 = 1000 ms (zigzag varint 2000), value 2.0, delta 60,000 ms,
    # then "value unchanged" and "delta-of-delta 0, value unchanged": all zero bits.
    chunk = (3).to_bytes(2, "big") + promchunks._uvarint(2000) + struct.pack(">d", 2.0)
    chunk += promchunks._uvarint(60_000) + b"\x00"
    assert promchunks.decode_xor(chunk) == [(1000, 60_000, 3, 2.0)]
    # The third sample 5 ms late: "value unchanged", delta-of-delta "10" + 14 bits (5), "0".
    bits = "0" + "10" + format(5, "014b") + "0"
    late = chunk[:-1] + int(bits.ljust(24, "0"), 2).to_bytes(3, "big")
    assert promchunks.decode_xor(late) == [(1000, 60_000, 2, 2.0), (121_005, 0, 1, 2.0)]


def test_a_stream_cut_inside_a_frame_is_an_error():
    frame = promchunks._uvarint(5) + b"\x00\x00\x00\x00" + b"hello"
    assert [bytes(m) for m in promchunks.frames([frame[:3], frame[3:]])] == [b"hello"]
    with pytest.raises(ValueError, match="inside a frame"):
        list(promchunks.frames([frame[:-1]]))


@pytest.mark.prometheus
def test_several_selectors_in_one_remote_read_answer_each_as_alone(prometheus_server):
    t0 = (int(time.time()) // 3600 - 20) * 3600
    run = f"rm{random.Random(7).randrange(10**9)}"
    lines = ["# TYPE promchunks_many gauge"]
    for s, step in (("a", 60), ("b", 30), ("c", 15)):
        lines += [
            f'promchunks_many{{run="{run}",s="{s}"}} {1 + (t // 900) % 3} {t}'
            for t in range(t0, t0 + 3 * 3600, step)
        ]
    prometheus_server.backfill("\n".join([*lines, "# EOF"]) + "\n")
    client = PrometheusClient(prometheus_server.url, timeout=30)
    selectors = [
        f'promchunks_many{{run="{run}",s="c"}}',
        f'promchunks_many{{run="{run}",s="missing"}}',
        f'promchunks_many{{run="{run}",s=~"a|b"}}',
    ]
    start, end = (t0 + 600) * 1000, (t0 + 2 * 3600) * 1000
    together = client.read_runs_many(selectors, start, end)
    assert together == [client.read_runs(s, start, end) for s in selectors]
    assert [len(series) for series in together] == [1, 0, 2]
    # only the labels asked for, the same runs
    kept = client.read_runs_many(selectors, start, end, frozenset({"s", "absent"}))
    assert kept == [[({"s": lb["s"]}, runs) for lb, runs in series] for series in together]
    # handed over one by one as decoded: the same series, in the same order, nothing kept
    handed: list = [[] for _ in selectors]
    kept = client.read_runs_many(
        selectors, start, end, each=lambda i, labels, runs: handed[i].append((labels, runs))
    )
    assert handed == together and kept == [[], [], []]

    # the caller's own error leaves as it is (not as a stream not understood)
    def fails(i, labels, runs):
        raise ValueError("the caller's bug")

    with pytest.raises(ValueError, match="the caller's bug"):
        client.read_runs_many(selectors, start, end, each=fails)


def test_labels_of_any_length_or_field_order_are_read_as_protobuf_says():
    def label(name, value, order=(1, 2)):
        fields = {1: promchunks._field(1, name.encode()), 2: promchunks._field(2, value.encode())}
        return promchunks._field(1, b"".join(fields[n] for n in order if fields[n][1:2] != b"\x00"))

    chunk = promchunks._field(2, promchunks._varint_field(3, 1) + promchunks._field(4, b"xor"))
    long_value = "é" * 200  # a two-byte length
    series = (
        label("__name__", "m")
        + label("empty", "")  # protobuf leaves an empty string out
        + label("long", long_value)
        + label("swapped", "v", order=(2, 1))
        + chunk
    )
    message = promchunks._field(1, series) + promchunks._varint_field(2, 3)
    assert promchunks.chunked_response(message) == (
        3,
        [({"__name__": "m", "empty": "", "long": long_value, "swapped": "v"}, [(1, b"xor")])],
    )
    # only the labels asked for, whichever way each is encoded; the chunks all the same
    assert promchunks.chunked_response(message, frozenset({"long", "swapped", "other"})) == (
        3,
        [({"long": long_value, "swapped": "v"}, [(1, b"xor")])],
    )
    # the query index may come first, and fields this reader does not use are skipped
    unknown = promchunks._varint_field(7, 1) + promchunks._field(8, b"xx")
    first = promchunks._varint_field(2, 1) + unknown + promchunks._field(1, series)
    assert promchunks.chunked_response(first)[0] == 1
    assert promchunks.chunked_response(first)[1] == promchunks.chunked_response(message)[1]
    # no query index: 0, as protobuf says
    assert promchunks.chunked_response(promchunks._field(1, series))[0] == 0


def test_a_chunk_with_long_lengths_or_fields_in_any_order_is_read_as_protobuf_says():
    data = bytes(range(256)) * 2  # a two-byte length
    fields = [
        promchunks._varint_field(1, 1_700_000_000_000),
        promchunks._varint_field(2, 1_700_000_600_000),
        promchunks._varint_field(3, 1),
        promchunks._field(4, data),
    ]
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 3, 0, 1]):
        chunk = b"".join(fields[i] for i in order)
        series = promchunks._field(2, chunk) + promchunks._field(2, chunk)
        _, [(labels, chunks)] = promchunks.chunked_response(promchunks._field(1, series))
        assert labels == {} and chunks == [(1, data), (1, data)]


def _xor(t0: int, value: float, n: int, delta: int, late_ms: int = 0) -> bytes:
    """An XOR chunk of ``n`` samples every ``delta`` ms from ``t0``, all ``value``; with
    ``late_ms``, the third sample comes that much late (delta-of-delta "10" + 14 bits, and back
    on the grid with the fourth)."""
    head = n.to_bytes(2, "big") + promchunks._uvarint(2 * t0) + struct.pack(">d", value)
    head += promchunks._uvarint(delta) if n > 1 else b""
    bits = "0" if n > 1 else ""  # the second sample: value unchanged
    for i in range(2, n):
        dod = {2: late_ms, 3: -late_ms}.get(i, 0) if late_ms else 0
        bits += ("10" + format(dod % (1 << 14), "014b") if dod else "0") + "0"
    size = -(-len(bits) // 8)
    return head + (int(bits.ljust(size * 8, "0"), 2).to_bytes(size, "big") if size else b"")


def test_a_response_decoded_in_place_is_what_the_general_reading_gives():
    """decoded_response (a series as Prometheus lays it out, read in place) against
    chunked_response + series_runs + clip, over series that take either way."""

    def label(name, value, order=(1, 2)):
        fields = {1: promchunks._field(1, name.encode()), 2: promchunks._field(2, value.encode())}
        return promchunks._field(1, b"".join(fields[n] for n in order if fields[n][1:2] != b"\x00"))

    def chunk(data, mint=1_700_000_000_000, order=(1, 2, 3, 4)):
        fields = {
            1: promchunks._varint_field(1, mint),
            2: promchunks._varint_field(2, mint + 7_200_000),
            3: promchunks._varint_field(3, 1),
            4: promchunks._field(4, data),
        }
        return promchunks._field(2, b"".join(fields[n] for n in order))

    t = 1_700_000_000_000
    regular = _xor(t, 1.0, 120, 60_000)
    after = _xor(t + 120 * 60_000, 1.0, 60, 60_000)  # continues the first: one run
    changed = _xor(t + 120 * 60_000, 2.0, 60, 60_000)
    late = _xor(t, 4.0, 120, 60_000, late_ms=5)  # decoded sample by sample
    stale = _xor(t, struct.unpack(">d", promchunks.STALE_NAN)[0], 3, 60_000)
    single = _xor(t + 500, 8.0, 1, 0)
    pod = label("__name__", "m") + label("namespace", "a") + label("pod", "p")
    series = [
        pod + chunk(regular) + chunk(after),
        pod + chunk(regular) + chunk(changed),
        pod + chunk(late),
        pod + chunk(stale) + chunk(single, mint=t + 500),
        pod + chunk(regular, order=(4, 3, 2, 1)),  # fields in another order
        label("long", "é" * 100) + chunk(regular),  # a two-byte length
        label("swapped", "v", order=(2, 1)) + chunk(after),
        pod + chunk(after) + chunk(regular),  # overlapping: the later chunk wins
        pod + label("zz", "") + chunk(regular),  # protobuf leaves an empty value out
        pod,  # no chunk
    ]
    # Prometheus' layout is read in place; the others (field order, long or empty labels,
    # overlapping chunks) the general way
    in_place = [promchunks._series_in_place(s, 0, len(s), None, 0, 1 << 62) for s in series]
    assert [found is not None for found in in_place] == [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    for names in (None, frozenset({"namespace", "long", "swapped"})):
        for start, end in ((0, 1 << 62), (t + 90 * 60_000, t + 150 * 60_000), (t, t + 1)):
            message = b"".join(promchunks._field(1, s) for s in series)
            message += promchunks._varint_field(2, 2)
            index, got = promchunks.decoded_response(message, names, start, end)
            _, general = promchunks.chunked_response(message, names)
            want = []
            for labels, chunks in general:
                runs = promchunks.clip(promchunks.series_runs(chunks), start, end)
                if runs:
                    want.append((labels, runs))
            assert index == 2 and got == want
