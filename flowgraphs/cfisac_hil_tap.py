#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: CF-ISAC hardware-in-the-loop: TAP side
# Author: gr-cfisac
# Description: Scenario, per-TAP MMSE estimation, precoder, transmitter and the simulated echo channel; serves the RAP snapshots, sensing geometry and ground truth over ZeroMQ PUSH sinks (tags passed) to cfisac_hil_rap.
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
from gnuradio import zeromq


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


class cfisac_hil_tap(gr.top_block):

    def __init__(self, num_blocks=0, seed=1, algorithm='zf', sensing_fraction=0.5, host='127.0.0.1', base_port=5600, capture='', remote_address=''):
        gr.top_block.__init__(self, "CF-ISAC hardware-in-the-loop: TAP side", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.num_blocks = num_blocks
        self.seed = seed
        self.algorithm = algorithm
        self.sensing_fraction = sensing_fraction
        self.host = host
        self.base_port = base_port
        self.capture = capture
        self.remote_address = remote_address

        ##################################################
        # Variables
        ##################################################
        self.cfg = cfg = cfisac.SystemConfig(NT=8, NR=4, MT_shape=(2, 2), MR_shape=(2, 2), K=4, NC=2, tau_c=196, tau_p=4, tap_power_dbm=(-12.0), pilot_power_dbm=0.0, carrier_hz=3.5e9, bandwidth_hz=20e6, noise_figure_db=9.0, rcs_target_m2=20.0, rcs_clutter_m2=10.0, area_m=50.0, **{})

        ##################################################
        # Blocks
        ##################################################
        snippets_init_before_blocks(self)
        self.w_null = blocks.null_sink(gr.sizeof_gr_complex*cfisac.item_size(cfg, 'precoder'))
        self.tap = cfisac.tap_side(cfg, seed=seed, num_blocks=num_blocks, scene="paper", user_speed_mps=0.0, target_speed_mps=0.0, block_interval_s=0.0, method="mmse", algorithm=algorithm, sensing_fraction=sensing_fraction, sensing_beam="nullspace", per_tap=False, regime="joint", eta=0.5, threshold=0.0, threads=1, remote_address=remote_address, remote_timeout_ms=500, fallback="zf", msg_interval=1, sensing_symbols="gaussian", max_blocks=64)
        self.symbols_null = blocks.null_sink(gr.sizeof_gr_complex*(cfg.K + 1))
        self.recorder = cfisac.sigmf_sink(cfg, capture, preset='rap_truth_geometry', description='', overwrite=True, max_blocks=64, num_blocks=0)
        self.push_truth = zeromq.push_sink(gr.sizeof_gr_complex, cfisac.item_size(cfg, 'truth'), 'tcp://%s:%d' % (host, base_port + 5), 100, True, (-1))
        self.push_rap4 = zeromq.push_sink(gr.sizeof_gr_complex, cfg.MR, 'tcp://%s:%d' % (host, base_port + 3), 100, True, (-1))
        self.push_rap3 = zeromq.push_sink(gr.sizeof_gr_complex, cfg.MR, 'tcp://%s:%d' % (host, base_port + 2), 100, True, (-1))
        self.push_rap2 = zeromq.push_sink(gr.sizeof_gr_complex, cfg.MR, 'tcp://%s:%d' % (host, base_port + 1), 100, True, (-1))
        self.push_rap1 = zeromq.push_sink(gr.sizeof_gr_complex, cfg.MR, 'tcp://%s:%d' % (host, base_port + 0), 100, True, (-1))
        self.push_geometry = zeromq.push_sink(gr.sizeof_gr_complex, cfisac.item_size(cfg, 'geometry'), 'tcp://%s:%d' % (host, base_port + 4), 100, True, (-1))
        self.echo = cfisac.echo_channel(cfg, seed=(seed + 3), noise=True, max_blocks=64)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.echo, 0), (self.push_rap1, 0))
        self.connect((self.echo, 1), (self.push_rap2, 0))
        self.connect((self.echo, 2), (self.push_rap3, 0))
        self.connect((self.echo, 3), (self.push_rap4, 0))
        self.connect((self.echo, 2), (self.recorder, 2))
        self.connect((self.echo, 1), (self.recorder, 1))
        self.connect((self.echo, 3), (self.recorder, 3))
        self.connect((self.echo, 0), (self.recorder, 0))
        self.connect((self.tap, 4), (self.echo, 4))
        self.connect((self.tap, 1), (self.echo, 1))
        self.connect((self.tap, 7), (self.echo, 7))
        self.connect((self.tap, 6), (self.echo, 6))
        self.connect((self.tap, 5), (self.echo, 5))
        self.connect((self.tap, 2), (self.echo, 2))
        self.connect((self.tap, 3), (self.echo, 3))
        self.connect((self.tap, 0), (self.echo, 0))
        self.connect((self.tap, 9), (self.echo, 8))
        self.connect((self.tap, 10), (self.push_geometry, 0))
        self.connect((self.tap, 9), (self.push_truth, 0))
        self.connect((self.tap, 10), (self.recorder, 5))
        self.connect((self.tap, 9), (self.recorder, 4))
        self.connect((self.tap, 8), (self.symbols_null, 0))
        self.connect((self.tap, 11), (self.w_null, 0))


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

    def get_host(self):
        return self.host

    def set_host(self, host):
        self.host = host

    def get_base_port(self):
        return self.base_port

    def set_base_port(self, base_port):
        self.base_port = base_port

    def get_capture(self):
        return self.capture

    def set_capture(self, capture):
        self.capture = capture

    def get_remote_address(self):
        return self.remote_address

    def set_remote_address(self, remote_address):
        self.remote_address = remote_address

    def get_cfg(self):
        return self.cfg

    def set_cfg(self, cfg):
        self.cfg = cfg



def argument_parser():
    description = 'Scenario, per-TAP MMSE estimation, precoder, transmitter and the simulated echo channel; serves the RAP snapshots, sensing geometry and ground truth over ZeroMQ PUSH sinks (tags passed) to cfisac_hil_rap.'
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "--num-blocks", dest="num_blocks", type=intx, default=0,
        help="Set Coherence blocks (0: forever) [default=%(default)r]")
    parser.add_argument(
        "--seed", dest="seed", type=intx, default=1,
        help="Set Seed [default=%(default)r]")
    parser.add_argument(
        "--algorithm", dest="algorithm", type=str, default='zf',
        help="Set Precoder (name, .onnx or remote) [default=%(default)r]")
    parser.add_argument(
        "--sensing-fraction", dest="sensing_fraction", type=eng_float, default=eng_notation.num_to_str(float(0.5)),
        help="Set Sensing power fraction [default=%(default)r]")
    parser.add_argument(
        "--host", dest="host", type=str, default='127.0.0.1',
        help="Set Bind address [default=%(default)r]")
    parser.add_argument(
        "--base-port", dest="base_port", type=intx, default=5600,
        help="Set First port [default=%(default)r]")
    parser.add_argument(
        "--capture", dest="capture", type=str, default='',
        help="Set Record what is sent (folder/NAME) [default=%(default)r]")
    parser.add_argument(
        "--remote-address", dest="remote_address", type=str, default='',
        help="Set Precoder service (algorithm remote) [default=%(default)r]")
    return parser


def main(top_block_cls=cfisac_hil_tap, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(num_blocks=options.num_blocks, seed=options.seed, algorithm=options.algorithm, sensing_fraction=options.sensing_fraction, host=options.host, base_port=options.base_port, capture=options.capture, remote_address=options.remote_address)

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
