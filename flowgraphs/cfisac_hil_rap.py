#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: CF-ISAC hardware-in-the-loop: RAP side
# Author: gr-cfisac
# Description: RAP snapshots, sensing geometry and ground truth from cfisac_hil_tap over ZeroMQ PULL sources (tags passed), through one CF-ISAC Head (aligned); MUSIC per RAP and fusion into a position; stops after num_blocks blocks. Start it before or after the TAP side: started late, it joins the running streams at the latest stream's first whole block and logs what it skipped.
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


def snipfcn_summary(self):
    from gr_cfisac.blocks.fix_summary import report_run
    report_run(self)

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
    snipfcn_summary(tb)
    snipfcn_join_threads(tb)

def snippets_init_before_blocks(tb):
    snipfcn_crash_report(tb)


class cfisac_hil_rap(gr.top_block):

    def __init__(self, num_blocks=100, host='127.0.0.1', base_port=5600, fix_path='hil_fix.f32', capture='', idle_timeout=10, sources=0):
        gr.top_block.__init__(self, "CF-ISAC hardware-in-the-loop: RAP side", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.num_blocks = num_blocks
        self.host = host
        self.base_port = base_port
        self.fix_path = fix_path
        self.capture = capture
        self.idle_timeout = idle_timeout
        self.sources = sources

        ##################################################
        # Variables
        ##################################################
        self.cfg = cfg = cfisac.SystemConfig(NT=8, NR=4, MT_shape=(2, 2), MR_shape=(2, 2), K=4, NC=2, tau_c=196, tau_p=4, tap_power_dbm=(-12.0), pilot_power_dbm=0.0, carrier_hz=3.5e9, bandwidth_hz=20e6, noise_figure_db=9.0, rcs_target_m2=20.0, rcs_clutter_m2=10.0, area_m=50.0, **{})

        ##################################################
        # Blocks
        ##################################################
        snippets_init_before_blocks(self)
        self.recorder = cfisac.sigmf_sink(cfg, capture, preset='rap_truth_geometry', description='', overwrite=True, max_blocks=64, num_blocks=0)
        self.rap = cfisac.rap_side(cfg, n_sources=sources, n_peaks=0, method="esprit", display_step_deg=4.0, association="prior", gate_deg=10.0, known_height=True, msg_interval=1, max_blocks=64, workers=1)
        self.pull_truth = zeromq.pull_source(gr.sizeof_gr_complex, cfisac.item_size(cfg, 'truth'), 'tcp://%s:%d' % (host, base_port + 5), 100, True, (-1))
        self.pull_rap4 = zeromq.pull_source(gr.sizeof_gr_complex, cfg.MR, 'tcp://%s:%d' % (host, base_port + 3), 100, True, (-1))
        self.pull_rap3 = zeromq.pull_source(gr.sizeof_gr_complex, cfg.MR, 'tcp://%s:%d' % (host, base_port + 2), 100, True, (-1))
        self.pull_rap2 = zeromq.pull_source(gr.sizeof_gr_complex, cfg.MR, 'tcp://%s:%d' % (host, base_port + 1), 100, True, (-1))
        self.pull_rap1 = zeromq.pull_source(gr.sizeof_gr_complex, cfg.MR, 'tcp://%s:%d' % (host, base_port + 0), 100, True, (-1))
        self.pull_geometry = zeromq.pull_source(gr.sizeof_gr_complex, cfisac.item_size(cfg, 'geometry'), 'tcp://%s:%d' % (host, base_port + 4), 100, True, (-1))
        self.head = cfisac.head(cfg, num_blocks=num_blocks, preset='rap_truth_geometry', max_blocks=32, idle_timeout_s=idle_timeout, on_idle=getattr(self, 'stop', None))
        self.fix_file = blocks.file_sink(gr.sizeof_float*cfisac.item_size(cfg, 'fix'), fix_path, False)
        self.fix_file.set_unbuffered(False)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.head, 3), (self.rap, 3))
        self.connect((self.head, 0), (self.rap, 0))
        self.connect((self.head, 1), (self.rap, 1))
        self.connect((self.head, 5), (self.rap, 4))
        self.connect((self.head, 2), (self.rap, 2))
        self.connect((self.head, 2), (self.recorder, 2))
        self.connect((self.head, 3), (self.recorder, 3))
        self.connect((self.head, 0), (self.recorder, 0))
        self.connect((self.head, 4), (self.recorder, 4))
        self.connect((self.head, 1), (self.recorder, 1))
        self.connect((self.head, 5), (self.recorder, 5))
        self.connect((self.pull_geometry, 0), (self.head, 5))
        self.connect((self.pull_rap1, 0), (self.head, 0))
        self.connect((self.pull_rap2, 0), (self.head, 1))
        self.connect((self.pull_rap3, 0), (self.head, 2))
        self.connect((self.pull_rap4, 0), (self.head, 3))
        self.connect((self.pull_truth, 0), (self.head, 4))
        self.connect((self.rap, 0), (self.fix_file, 0))


    def get_num_blocks(self):
        return self.num_blocks

    def set_num_blocks(self, num_blocks):
        self.num_blocks = num_blocks

    def get_host(self):
        return self.host

    def set_host(self, host):
        self.host = host

    def get_base_port(self):
        return self.base_port

    def set_base_port(self, base_port):
        self.base_port = base_port

    def get_fix_path(self):
        return self.fix_path

    def set_fix_path(self, fix_path):
        self.fix_path = fix_path
        self.fix_file.open(self.fix_path)

    def get_capture(self):
        return self.capture

    def set_capture(self, capture):
        self.capture = capture

    def get_idle_timeout(self):
        return self.idle_timeout

    def set_idle_timeout(self, idle_timeout):
        self.idle_timeout = idle_timeout

    def get_sources(self):
        return self.sources

    def set_sources(self, sources):
        self.sources = sources

    def get_cfg(self):
        return self.cfg

    def set_cfg(self, cfg):
        self.cfg = cfg



def argument_parser():
    description = "RAP snapshots, sensing geometry and ground truth from cfisac_hil_tap over ZeroMQ PULL sources (tags passed), through one CF-ISAC Head (aligned); MUSIC per RAP and fusion into a position; stops after num_blocks blocks. Start it before or after the TAP side: started late, it joins the running streams at the latest stream's first whole block and logs what it skipped."
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "--num-blocks", dest="num_blocks", type=intx, default=100,
        help="Set Coherence blocks [default=%(default)r]")
    parser.add_argument(
        "--host", dest="host", type=str, default='127.0.0.1',
        help="Set TAP-side host [default=%(default)r]")
    parser.add_argument(
        "--base-port", dest="base_port", type=intx, default=5600,
        help="Set First port [default=%(default)r]")
    parser.add_argument(
        "--fix-path", dest="fix_path", type=str, default='hil_fix.f32',
        help="Set Positions (float32 fix items) [default=%(default)r]")
    parser.add_argument(
        "--capture", dest="capture", type=str, default='',
        help="Set Record what is received (folder/NAME) [default=%(default)r]")
    parser.add_argument(
        "--idle-timeout", dest="idle_timeout", type=eng_float, default=eng_notation.num_to_str(float(10)),
        help="Set End after this many idle seconds (0: never) [default=%(default)r]")
    parser.add_argument(
        "--sources", dest="sources", type=intx, default=0,
        help="Set MUSIC sources (0: MDL per block) [default=%(default)r]")
    return parser


def main(top_block_cls=cfisac_hil_rap, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(num_blocks=options.num_blocks, host=options.host, base_port=options.base_port, fix_path=options.fix_path, capture=options.capture, idle_timeout=options.idle_timeout, sources=options.sources)

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
