"""Benchmarks of the per-command and per-chunk Python paths (``make bench``).

* gate: one StartChannelListMode through the safety gate (decode, round-trip, checks, write);
* ScienceMode2 decoder: a chunk of 10 ack frames;
* sensor decoder: 10 heel frames (0.1 s at 100 Hz), as one read delivers them;
* scorer: a 60 s simulated session scored from its rows.
"""

from __future__ import annotations

from fescontrol.protocol import sciencemode2 as sm2
from fescontrol.records.readers import Event, StimRow
from fescontrol.records.scoring import score
from fescontrol.safety.gate import SafetyGate
from fescontrol.safety.limits import ChannelLimits, GateLimits
from fescontrol.sensing.frames import FrameDecoder, encode_heel_frame

LIMITS = GateLimits(channels={1: ChannelLimits(40, 300), 2: ChannelLimits(30, 250)}, min_pulse_width_us=20,
                    current_step_ma=2, max_charge_per_phase_nc=15000, min_main_time_code=38,
                    min_group_time_code=13, max_ramp_step_ma=30,
    max_on_ns=10**12, duty_window_ns=10**13, max_duty_on_ns=10**13, max_session_on_ns=10**14, max_sample_age_ns=10**12)


class NullPort:
    def write(self, data: bytes) -> int:
        return len(data)


def test_bench_gate_send_update(benchmark):
    gate = SafetyGate(NullPort(), LIMITS)
    gate.sensor_sample(0)
    gate.send(sm2.init_channel_list_mode(0, active_channels=3, group_time_code=13, main_time_code=48), 0)
    gate.arm(0)
    frame = sm2.start_channel_list_mode(1, [sm2.ChannelSetting(0, 300, 20), sm2.ChannelSetting(0, 250, 14)])
    verdict = benchmark(gate.send, frame, 1)
    assert verdict.sent


def test_bench_sm2_decode_10_acks(benchmark):
    chunk = b"".join(sm2.ack(pn, sm2.Cmd.START_CHANNEL_LIST_MODE_ACK, 0) for pn in range(10))
    packets = benchmark(lambda: sm2.Decoder().feed(chunk))
    assert len(packets) == 10


def test_bench_heel_decode_10_frames(benchmark):
    chunk = b"".join(encode_heel_frame(k, 400.0 + k) for k in range(10))
    samples = benchmark(lambda: FrameDecoder().feed(chunk))
    assert len(samples.seq) == 10


def test_bench_score_60s_session(benchmark):
    truth, stim = [], []
    for k in range(55):
        hs = 2.0 + k * 1.0
        truth += [Event(hs, "heel_strike"), Event(hs + 0.42, "heel_off"), Event(hs + 0.61, "toe_off")]
        for ch, plateau in ((1, 30), (2, 20)):
            stim += [StimRow(hs + 0.45, ch, plateau, 300, 40.0), StimRow(hs + 1.15, ch, 0, 300, 40.0)]
    stim.sort(key=lambda r: r.t_s)
    report = benchmark(score, stim, truth, {1: 30.0, 2: 20.0}, truth, 60.0)
    assert report["swings"] == 54
