#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: CF-ISAC simulation (headless)
# Author: gr-cfisac
# Description: The whole CF-ISAC chain on the Table-I network: uplink pilots, MMSE estimation, precoding, downlink, echoes, MUSIC, fusion and metrics; runs num_blocks coherence blocks and stops. No throttle: a batch run goes as fast as the CPU allows (grcc's flow-control warning is expected); cfisac_sim_qt paces its displays.
# GNU Radio version: 3.10.5.1

from gnuradio import cfisac
from gnuradio import gr
from gnuradio.filter import firdes
from gnuradio.fft import window
import sys
import signal
from argparse import ArgumentParser
from gnuradio.eng_arg import eng_float, intx
from gnuradio import eng_notation


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


class cfisac_sim(gr.top_block):

    def __init__(self, num_blocks=300, seed=1, algorithm='zf', sensing_fraction=0.3, user_speed_mps=0, csv_path='', print_interval=100, rap_rows=2, rap_cols=2, sources=0, capture=''):
        gr.top_block.__init__(self, "CF-ISAC simulation (headless)", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.num_blocks = num_blocks
        self.seed = seed
        self.algorithm = algorithm
        self.sensing_fraction = sensing_fraction
        self.user_speed_mps = user_speed_mps
        self.csv_path = csv_path
        self.print_interval = print_interval
        self.rap_rows = rap_rows
        self.rap_cols = rap_cols
        self.sources = sources
        self.capture = capture

        ##################################################
        # Variables
        ##################################################
        self.cfg = cfg = cfisac.SystemConfig(NT=8, NR=4, MT_shape=(2, 2), MR_shape=(rap_rows, rap_cols), K=4, NC=2, tau_c=196, tau_p=4, tap_power_dbm=(-12.0), pilot_power_dbm=0.0, carrier_hz=3.5e9, bandwidth_hz=20e6, noise_figure_db=9.0, rcs_target_m2=20.0, rcs_clutter_m2=10.0, area_m=50.0, **{})

        ##################################################
        # Blocks
        ##################################################
        snippets_init_before_blocks(self)
        self.transmitter = cfisac.transmitter(cfg, seed=(seed + 1), sensing_symbols="gaussian", max_blocks=64)
        self.scenario = cfisac.scenario_source(cfg, seed=seed, num_blocks=num_blocks, scene="paper", user_speed_mps=user_speed_mps, target_speed_mps=0.0, block_interval_s=0.0, max_blocks=64)
        self.recorder = cfisac.sigmf_sink(cfg, capture, preset='replay', description='', overwrite=True, max_blocks=64, num_blocks=0)
        self.precoder = cfisac.precoder(cfg, algorithm=algorithm, sensing_fraction=sensing_fraction, sensing_beam="nullspace", per_tap=False, regime="joint", eta=0.5, threads=1, remote_address='', remote_timeout_ms=500, fallback="zf", msg_interval=1, max_blocks=64, threshold=0.0)
        self.music = cfisac.music_localizer(cfg, n_sources=sources, n_peaks=0, method="fast", num_raps=0, display_step_deg=4.0, msg_interval=1, max_blocks=64, num_blocks=0, workers=1)
        self.metrics = cfisac.metrics_sink(cfg, with_sensing=True, csv_path=csv_path, print_interval=print_interval, display_user=1, msg_interval=1, history=10000, max_blocks=64)
        self.fusion = cfisac.fusion(cfg, n_peaks=0, association="prior", gate_deg=10.0, known_height=True, msg_interval=1, max_blocks=64, num_blocks=0)
        self.estimator = cfisac.pilot_estimator(cfg, method="mmse", num_taps=0, max_blocks=64)
        self.echo = cfisac.echo_channel(cfg, seed=(seed + 3), noise=True, max_blocks=64)
        self.downlink = cfisac.downlink_channel(cfg, seed=(seed + 2), noise=True, max_blocks=64)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.downlink, 1), (self.metrics, 1))
        self.connect((self.downlink, 2), (self.metrics, 2))
        self.connect((self.downlink, 0), (self.metrics, 0))
        self.connect((self.downlink, 3), (self.metrics, 3))
        self.connect((self.echo, 1), (self.metrics, 9))
        self.connect((self.echo, 2), (self.metrics, 10))
        self.connect((self.echo, 0), (self.metrics, 8))
        self.connect((self.echo, 3), (self.metrics, 11))
        self.connect((self.echo, 2), (self.music, 2))
        self.connect((self.echo, 3), (self.music, 3))
        self.connect((self.echo, 1), (self.music, 1))
        self.connect((self.echo, 0), (self.music, 0))
        self.connect((self.echo, 2), (self.recorder, 2))
        self.connect((self.echo, 1), (self.recorder, 1))
        self.connect((self.echo, 0), (self.recorder, 0))
        self.connect((self.echo, 3), (self.recorder, 3))
        self.connect((self.estimator, 5), (self.precoder, 5))
        self.connect((self.estimator, 7), (self.precoder, 7))
        self.connect((self.estimator, 1), (self.precoder, 1))
        self.connect((self.estimator, 4), (self.precoder, 4))
        self.connect((self.estimator, 2), (self.precoder, 2))
        self.connect((self.estimator, 0), (self.precoder, 0))
        self.connect((self.estimator, 3), (self.precoder, 3))
        self.connect((self.estimator, 6), (self.precoder, 6))
        self.connect((self.fusion, 0), (self.metrics, 12))
        self.connect((self.music, 1), (self.fusion, 1))
        self.connect((self.music, 0), (self.fusion, 0))
        self.connect((self.music, 2), (self.fusion, 2))
        self.connect((self.music, 3), (self.fusion, 3))
        self.connect((self.precoder, 8), (self.metrics, 6))
        self.connect((self.precoder, 3), (self.transmitter, 3))
        self.connect((self.precoder, 7), (self.transmitter, 7))
        self.connect((self.precoder, 2), (self.transmitter, 2))
        self.connect((self.precoder, 0), (self.transmitter, 0))
        self.connect((self.precoder, 5), (self.transmitter, 5))
        self.connect((self.precoder, 4), (self.transmitter, 4))
        self.connect((self.precoder, 6), (self.transmitter, 6))
        self.connect((self.precoder, 1), (self.transmitter, 1))
        self.connect((self.scenario, 16), (self.downlink, 8))
        self.connect((self.scenario, 16), (self.echo, 8))
        self.connect((self.scenario, 1), (self.estimator, 1))
        self.connect((self.scenario, 9), (self.estimator, 9))
        self.connect((self.scenario, 10), (self.estimator, 10))
        self.connect((self.scenario, 4), (self.estimator, 4))
        self.connect((self.scenario, 0), (self.estimator, 0))
        self.connect((self.scenario, 11), (self.estimator, 11))
        self.connect((self.scenario, 12), (self.estimator, 12))
        self.connect((self.scenario, 13), (self.estimator, 13))
        self.connect((self.scenario, 5), (self.estimator, 5))
        self.connect((self.scenario, 8), (self.estimator, 8))
        self.connect((self.scenario, 14), (self.estimator, 14))
        self.connect((self.scenario, 6), (self.estimator, 6))
        self.connect((self.scenario, 2), (self.estimator, 2))
        self.connect((self.scenario, 3), (self.estimator, 3))
        self.connect((self.scenario, 7), (self.estimator, 7))
        self.connect((self.scenario, 15), (self.estimator, 15))
        self.connect((self.scenario, 17), (self.fusion, 4))
        self.connect((self.scenario, 17), (self.metrics, 7))
        self.connect((self.scenario, 16), (self.metrics, 5))
        self.connect((self.scenario, 18), (self.metrics, 13))
        self.connect((self.scenario, 17), (self.precoder, 8))
        self.connect((self.scenario, 18), (self.precoder, 9))
        self.connect((self.scenario, 10), (self.recorder, 16))
        self.connect((self.scenario, 16), (self.recorder, 4))
        self.connect((self.scenario, 13), (self.recorder, 19))
        self.connect((self.scenario, 4), (self.recorder, 10))
        self.connect((self.scenario, 5), (self.recorder, 11))
        self.connect((self.scenario, 14), (self.recorder, 20))
        self.connect((self.scenario, 15), (self.recorder, 21))
        self.connect((self.scenario, 3), (self.recorder, 9))
        self.connect((self.scenario, 6), (self.recorder, 12))
        self.connect((self.scenario, 2), (self.recorder, 8))
        self.connect((self.scenario, 9), (self.recorder, 15))
        self.connect((self.scenario, 7), (self.recorder, 13))
        self.connect((self.scenario, 0), (self.recorder, 6))
        self.connect((self.scenario, 1), (self.recorder, 7))
        self.connect((self.scenario, 11), (self.recorder, 17))
        self.connect((self.scenario, 17), (self.recorder, 5))
        self.connect((self.scenario, 8), (self.recorder, 14))
        self.connect((self.scenario, 12), (self.recorder, 18))
        self.connect((self.transmitter, 1), (self.downlink, 1))
        self.connect((self.transmitter, 6), (self.downlink, 6))
        self.connect((self.transmitter, 0), (self.downlink, 0))
        self.connect((self.transmitter, 2), (self.downlink, 2))
        self.connect((self.transmitter, 3), (self.downlink, 3))
        self.connect((self.transmitter, 5), (self.downlink, 5))
        self.connect((self.transmitter, 4), (self.downlink, 4))
        self.connect((self.transmitter, 7), (self.downlink, 7))
        self.connect((self.transmitter, 7), (self.echo, 7))
        self.connect((self.transmitter, 1), (self.echo, 1))
        self.connect((self.transmitter, 3), (self.echo, 3))
        self.connect((self.transmitter, 4), (self.echo, 4))
        self.connect((self.transmitter, 0), (self.echo, 0))
        self.connect((self.transmitter, 2), (self.echo, 2))
        self.connect((self.transmitter, 6), (self.echo, 6))
        self.connect((self.transmitter, 5), (self.echo, 5))
        self.connect((self.transmitter, 8), (self.metrics, 4))


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

    def get_user_speed_mps(self):
        return self.user_speed_mps

    def set_user_speed_mps(self, user_speed_mps):
        self.user_speed_mps = user_speed_mps

    def get_csv_path(self):
        return self.csv_path

    def set_csv_path(self, csv_path):
        self.csv_path = csv_path

    def get_print_interval(self):
        return self.print_interval

    def set_print_interval(self, print_interval):
        self.print_interval = print_interval

    def get_rap_rows(self):
        return self.rap_rows

    def set_rap_rows(self, rap_rows):
        self.rap_rows = rap_rows

    def get_rap_cols(self):
        return self.rap_cols

    def set_rap_cols(self, rap_cols):
        self.rap_cols = rap_cols

    def get_sources(self):
        return self.sources

    def set_sources(self, sources):
        self.sources = sources

    def get_capture(self):
        return self.capture

    def set_capture(self, capture):
        self.capture = capture

    def get_cfg(self):
        return self.cfg

    def set_cfg(self, cfg):
        self.cfg = cfg



def argument_parser():
    description = "The whole CF-ISAC chain on the Table-I network: uplink pilots, MMSE estimation, precoding, downlink, echoes, MUSIC, fusion and metrics; runs num_blocks coherence blocks and stops. No throttle: a batch run goes as fast as the CPU allows (grcc's flow-control warning is expected); cfisac_sim_qt paces its displays."
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "--num-blocks", dest="num_blocks", type=intx, default=300,
        help="Set Coherence blocks (0: forever) [default=%(default)r]")
    parser.add_argument(
        "--seed", dest="seed", type=intx, default=1,
        help="Set Seed [default=%(default)r]")
    parser.add_argument(
        "--algorithm", dest="algorithm", type=str, default='zf',
        help="Set Precoder (name or .onnx) [default=%(default)r]")
    parser.add_argument(
        "--sensing-fraction", dest="sensing_fraction", type=eng_float, default=eng_notation.num_to_str(float(0.3)),
        help="Set Sensing power fraction [default=%(default)r]")
    parser.add_argument(
        "--user-speed-mps", dest="user_speed_mps", type=eng_float, default=eng_notation.num_to_str(float(0)),
        help="Set User speed (m/s) [default=%(default)r]")
    parser.add_argument(
        "--csv-path", dest="csv_path", type=str, default='',
        help="Set Metrics CSV [default=%(default)r]")
    parser.add_argument(
        "--print-interval", dest="print_interval", type=intx, default=100,
        help="Set Print every N blocks [default=%(default)r]")
    parser.add_argument(
        "--rap-rows", dest="rap_rows", type=intx, default=2,
        help="Set RAP array rows [default=%(default)r]")
    parser.add_argument(
        "--rap-cols", dest="rap_cols", type=intx, default=2,
        help="Set RAP array columns [default=%(default)r]")
    parser.add_argument(
        "--sources", dest="sources", type=intx, default=0,
        help="Set MUSIC sources (0: MDL per block) [default=%(default)r]")
    parser.add_argument(
        "--capture", dest="capture", type=str, default='',
        help="Set Record for replay (folder/NAME, empty: off) [default=%(default)r]")
    return parser


def main(top_block_cls=cfisac_sim, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(num_blocks=options.num_blocks, seed=options.seed, algorithm=options.algorithm, sensing_fraction=options.sensing_fraction, user_speed_mps=options.user_speed_mps, csv_path=options.csv_path, print_interval=options.print_interval, rap_rows=options.rap_rows, rap_cols=options.rap_cols, sources=options.sources, capture=options.capture)

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
