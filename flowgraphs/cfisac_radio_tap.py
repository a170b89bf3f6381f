#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: CF-ISAC radio testbed: TAP side
# Author: gr-cfisac
# Description: Scenario, per-TAP MMSE estimation, precoder and transmitter; the first burst timed on the radio-time block grid (tx_time); the TAPs sent through a UHD or SoapySDR radio, or without radios to a file or ZeroMQ (driver file / zeromq, sink).
# GNU Radio version: 3.10.5.1

from gnuradio import blocks
from gnuradio import cfisac
from gnuradio import gr
from gnuradio.filter import firdes
from gnuradio.fft import window
import sys
import signal
from argparse import ArgumentParser
from gnuradio.eng_arg import eng_float, intx
from gnuradio import eng_notation


def snipfcn_errors(self):
    from gr_cfisac.blocks.radio_device import one_line_errors
    one_line_errors('cfisac_radio_tap')

def snipfcn_crash_report(self):
    from gr_cfisac.blocks.process_exit import report_crashes
    report_crashes()

def snipfcn_stop_on_signal(self):
    from gr_cfisac.blocks.process_exit import stop_on_signal
    stop_on_signal(self)

def snipfcn_join_threads(self):
    from gr_cfisac.blocks.process_exit import join_threads
    join_threads()


def snippets_main_after_start(tb):
    snipfcn_stop_on_signal(tb)

def snippets_main_after_stop(tb):
    snipfcn_join_threads(tb)

def snippets_init_before_blocks(tb):
    snipfcn_crash_report(tb)
    snipfcn_errors(tb)


class cfisac_radio_tap(gr.top_block):

    def __init__(self, driver='uhd', device_args='', samp_rate=1e6, carrier=3.5e9, gain=0, antenna='', channels='', clock_source='', time_source='', sync='pc_clock_next_pps', start_time=0, taps='', sink='', num_blocks=0, seed=1, algorithm='zf', sensing_fraction=0.5):
        gr.top_block.__init__(self, "CF-ISAC radio testbed: TAP side", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.driver = driver
        self.device_args = device_args
        self.samp_rate = samp_rate
        self.carrier = carrier
        self.gain = gain
        self.antenna = antenna
        self.channels = channels
        self.clock_source = clock_source
        self.time_source = time_source
        self.sync = sync
        self.start_time = start_time
        self.taps = taps
        self.sink = sink
        self.num_blocks = num_blocks
        self.seed = seed
        self.algorithm = algorithm
        self.sensing_fraction = sensing_fraction

        ##################################################
        # Variables
        ##################################################
        self.cfg = cfg = cfisac.SystemConfig(NT=8, NR=4, MT_shape=(2, 2), MR_shape=(2, 2), K=4, NC=2, tau_c=196, tau_p=4, tap_power_dbm=(-12.0), pilot_power_dbm=0.0, carrier_hz=3.5e9, bandwidth_hz=20e6, noise_figure_db=9.0, rcs_target_m2=20.0, rcs_clutter_m2=10.0, area_m=50.0, **{})

        ##################################################
        # Blocks
        ##################################################
        snippets_init_before_blocks(self)
        self.truth_null = blocks.null_sink(gr.sizeof_gr_complex*cfisac.item_size(cfg, 'truth'))
        self.tap = cfisac.tap_side(cfg, seed=seed, num_blocks=num_blocks, scene="paper", user_speed_mps=0.0, target_speed_mps=0.0, block_interval_s=0.0, method="mmse", algorithm=algorithm, sensing_fraction=sensing_fraction, sensing_beam="nullspace", per_tap=False, regime="joint", eta=0.5, threshold=0.0, threads=1, remote_address='', remote_timeout_ms=500, fallback="zf", msg_interval=1, sensing_symbols="gaussian", max_blocks=64)
        self.symbols_null = blocks.null_sink(gr.sizeof_gr_complex*(cfg.K + 1))
        self.radio = cfisac.radio_sink(cfg, driver=driver, device_args=device_args, samp_rate=samp_rate, center_freq=carrier, gain=gain, antenna=antenna, taps=taps, channels=channels, clock_source=clock_source, time_source=time_source, sync=sync, sink=sink, tx_scale=0)
        self.burst = cfisac.burst_time(cfg, samp_rate, start_time_s=start_time, num_ports=0)
        self.W_null = blocks.null_sink(gr.sizeof_gr_complex*cfisac.item_size(cfg, 'precoder'))


        ##################################################
        # Connections
        ##################################################
        self.connect((self.burst, 6), (self.radio, 6))
        self.connect((self.burst, 4), (self.radio, 4))
        self.connect((self.burst, 3), (self.radio, 3))
        self.connect((self.burst, 0), (self.radio, 0))
        self.connect((self.burst, 5), (self.radio, 5))
        self.connect((self.burst, 1), (self.radio, 1))
        self.connect((self.burst, 7), (self.radio, 7))
        self.connect((self.burst, 2), (self.radio, 2))
        self.connect((self.tap, 11), (self.W_null, 0))
        self.connect((self.tap, 5), (self.burst, 5))
        self.connect((self.tap, 2), (self.burst, 2))
        self.connect((self.tap, 4), (self.burst, 4))
        self.connect((self.tap, 7), (self.burst, 7))
        self.connect((self.tap, 6), (self.burst, 6))
        self.connect((self.tap, 3), (self.burst, 3))
        self.connect((self.tap, 0), (self.burst, 0))
        self.connect((self.tap, 1), (self.burst, 1))
        self.connect((self.tap, 8), (self.symbols_null, 0))
        self.connect((self.tap, 9), (self.truth_null, 0))


    def get_driver(self):
        return self.driver

    def set_driver(self, driver):
        self.driver = driver

    def get_device_args(self):
        return self.device_args

    def set_device_args(self, device_args):
        self.device_args = device_args

    def get_samp_rate(self):
        return self.samp_rate

    def set_samp_rate(self, samp_rate):
        self.samp_rate = samp_rate

    def get_carrier(self):
        return self.carrier

    def set_carrier(self, carrier):
        self.carrier = carrier

    def get_gain(self):
        return self.gain

    def set_gain(self, gain):
        self.gain = gain

    def get_antenna(self):
        return self.antenna

    def set_antenna(self, antenna):
        self.antenna = antenna

    def get_channels(self):
        return self.channels

    def set_channels(self, channels):
        self.channels = channels

    def get_clock_source(self):
        return self.clock_source

    def set_clock_source(self, clock_source):
        self.clock_source = clock_source

    def get_time_source(self):
        return self.time_source

    def set_time_source(self, time_source):
        self.time_source = time_source

    def get_sync(self):
        return self.sync

    def set_sync(self, sync):
        self.sync = sync

    def get_start_time(self):
        return self.start_time

    def set_start_time(self, start_time):
        self.start_time = start_time

    def get_taps(self):
        return self.taps

    def set_taps(self, taps):
        self.taps = taps

    def get_sink(self):
        return self.sink

    def set_sink(self, sink):
        self.sink = sink

    def get_num_blocks(self):
        return self.num_blocks

    def set_num_blocks(self, num_blocks):
        self.num_blocks = num_blocks

    def get_seed(self):
        return self.seed

    def set_seed(self, seed):
        self.seed = seed

    def get_algorithm(self):
        return self.algorithm

    def set_algorithm(self, algorithm):
        self.algorithm = algorithm

    def get_sensing_fraction(self):
        return self.sensing_fraction

    def set_sensing_fraction(self, sensing_fraction):
        self.sensing_fraction = sensing_fraction

    def get_cfg(self):
        return self.cfg

    def set_cfg(self, cfg):
        self.cfg = cfg



def argument_parser():
    description = 'Scenario, per-TAP MMSE estimation, precoder and transmitter; the first burst timed on the radio-time block grid (tx_time); the TAPs sent through a UHD or SoapySDR radio, or without radios to a file or ZeroMQ (driver file / zeromq, sink).'
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "--driver", dest="driver", type=str, default='uhd',
        help="Set Radio: uhd, soapy; or file, zeromq (no radio) [default=%(default)r]")
    parser.add_argument(
        "--device-args", dest="device_args", type=str, default='',
        help="Set Device arguments (e.g. addr=192.168.10.2) [default=%(default)r]")
    parser.add_argument(
        "--samp-rate", dest="samp_rate", type=eng_float, default=eng_notation.num_to_str(float(1e6)),
        help="Set Sample rate (S/s) [default=%(default)r]")
    parser.add_argument(
        "--carrier", dest="carrier", type=eng_float, default=eng_notation.num_to_str(float(3.5e9)),
        help="Set Carrier (Hz) [default=%(default)r]")
    parser.add_argument(
        "--gain", dest="gain", type=eng_float, default=eng_notation.num_to_str(float(0)),
        help="Set Gain (dB) [default=%(default)r]")
    parser.add_argument(
        "--antenna", dest="antenna", type=str, default='',
        help="Set Antenna port ('' = default) [default=%(default)r]")
    parser.add_argument(
        "--channels", dest="channels", type=str, default='',
        help="Set Device channel per antenna ('' = 0,1,...) [default=%(default)r]")
    parser.add_argument(
        "--clock-source", dest="clock_source", type=str, default='',
        help="Set Clock source (internal, external, gpsdo) [default=%(default)r]")
    parser.add_argument(
        "--time-source", dest="time_source", type=str, default='',
        help="Set Time source (external, gpsdo) [default=%(default)r]")
    parser.add_argument(
        "--sync", dest="sync", type=str, default='pc_clock_next_pps',
        help="Set Radio time: pc_clock_next_pps, pps, now, none [default=%(default)r]")
    parser.add_argument(
        "--start-time", dest="start_time", type=eng_float, default=eng_notation.num_to_str(float(0)),
        help="Set Radio time of block 0 (s, same on every host) [default=%(default)r]")
    parser.add_argument(
        "--taps", dest="taps", type=str, default='',
        help="Set TAPs this radio sends, 0-based ('' = all) [default=%(default)r]")
    parser.add_argument(
        "--sink", dest="sink", type=str, default='',
        help="Set File or ZeroMQ address (driver file / zeromq) [default=%(default)r]")
    parser.add_argument(
        "--num-blocks", dest="num_blocks", type=intx, default=0,
        help="Set Coherence blocks (0: forever) [default=%(default)r]")
    parser.add_argument(
        "--seed", dest="seed", type=intx, default=1,
        help="Set Seed (the same on every host) [default=%(default)r]")
    parser.add_argument(
        "--algorithm", dest="algorithm", type=str, default='zf',
        help="Set Precoder (name, .onnx or remote) [default=%(default)r]")
    parser.add_argument(
        "--sensing-fraction", dest="sensing_fraction", type=eng_float, default=eng_notation.num_to_str(float(0.5)),
        help="Set Sensing power fraction [default=%(default)r]")
    return parser


def main(top_block_cls=cfisac_radio_tap, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(driver=options.driver, device_args=options.device_args, samp_rate=options.samp_rate, carrier=options.carrier, gain=options.gain, antenna=options.antenna, channels=options.channels, clock_source=options.clock_source, time_source=options.time_source, sync=options.sync, start_time=options.start_time, taps=options.taps, sink=options.sink, num_blocks=options.num_blocks, seed=options.seed, algorithm=options.algorithm, sensing_fraction=options.sensing_fraction)

    def sig_handler(sig=None, frame=None):
        tb.stop()
        tb.wait()
        snippets_main_after_stop(tb)
        sys.exit(0)

    signal.signal(signal.SIGINT, sig_handler)
    signal.signal(signal.SIGTERM, sig_handler)

    tb.start()
    snippets_main_after_start(tb)
    tb.wait()
    snippets_main_after_stop(tb)

if __name__ == '__main__':
    main()
