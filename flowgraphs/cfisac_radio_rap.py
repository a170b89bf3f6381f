#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: CF-ISAC radio testbed: RAP side
# Author: gr-cfisac
# Description: The RAPs received by a UHD or SoapySDR radio (or without radios from a GNU Radio metadata file or ZeroMQ with the same rx_time tags), cut into the coherence blocks of the radio-time grid (overflows realigned and reported), calibrated, localized by MUSIC per RAP and fusion; fixes to fix_path, a SigMF capture, a summary at the end.
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
    one_line_errors('cfisac_radio_rap')

def snipfcn_summary(self):
    from gr_cfisac.blocks.radio_summary import report_radio_run
    report_radio_run(self)

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
    snipfcn_errors(tb)


class cfisac_radio_rap(gr.top_block):

    def __init__(self, driver='uhd', device_args='', samp_rate=1e6, carrier=3.5e9, gain=0, antenna='', channels='', clock_source='', time_source='', sync='pc_clock_next_pps', start_time=0, raps='', source='', record='', calibration='', num_blocks=100, seed=1, fix_path='radio_fix.f32', capture='', sources=0, music_threads=1, idle_timeout=10):
        gr.top_block.__init__(self, "CF-ISAC radio testbed: RAP side", catch_exceptions=True)

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
        self.raps = raps
        self.source = source
        self.record = record
        self.calibration = calibration
        self.num_blocks = num_blocks
        self.seed = seed
        self.fix_path = fix_path
        self.capture = capture
        self.sources = sources
        self.music_threads = music_threads
        self.idle_timeout = idle_timeout

        ##################################################
        # Variables
        ##################################################
        self.cfg = cfg = cfisac.SystemConfig(NT=8, NR=4, MT_shape=(2, 2), MR_shape=(2, 2), K=4, NC=2, tau_c=196, tau_p=4, tap_power_dbm=(-12.0), pilot_power_dbm=0.0, carrier_hz=3.5e9, bandwidth_hz=20e6, noise_figure_db=9.0, rcs_target_m2=20.0, rcs_clutter_m2=10.0, area_m=50.0, **{})

        ##################################################
        # Blocks
        ##################################################
        snippets_init_before_blocks(self)
        self.scene = cfisac.scene_follower(cfg, seed=seed, scene="paper", user_speed_mps=0.0, target_speed_mps=0.0, max_blocks=64)
        self.recorder = cfisac.sigmf_sink(cfg, capture, preset='rap_truth_geometry', description='', overwrite=True, max_blocks=64, num_blocks=0)
        self.rap = cfisac.rap_side(cfg, n_sources=sources, n_peaks=0, method="esprit", display_step_deg=4.0, association="prior", gate_deg=10.0, known_height=True, msg_interval=1, max_blocks=64, workers=music_threads)
        self.radio = cfisac.radio_source(cfg, driver=driver, device_args=device_args, samp_rate=samp_rate, center_freq=carrier, gain=gain, antenna=antenna, raps=raps, channels=channels, clock_source=clock_source, time_source=time_source, sync=sync, start_time_s=start_time, source=source, record=record)
        self.head = cfisac.head(cfg, num_blocks=num_blocks, preset='rap_truth_geometry', max_blocks=32, idle_timeout_s=idle_timeout, on_idle=getattr(self, 'stop', None))
        self.fix_file = blocks.file_sink(gr.sizeof_float*cfisac.item_size(cfg, 'fix'), fix_path, False)
        self.fix_file.set_unbuffered(False)
        self.cal = cfisac.calibrate(cfg, path=calibration, max_blocks=64)
        self.align = cfisac.time_align(cfg, samp_rate, start_time_s=start_time, num_ports=0, max_blocks=64)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.align, 0), (self.cal, 0))
        self.connect((self.align, 3), (self.cal, 3))
        self.connect((self.align, 1), (self.cal, 1))
        self.connect((self.align, 2), (self.cal, 2))
        self.connect((self.cal, 2), (self.head, 2))
        self.connect((self.cal, 3), (self.head, 3))
        self.connect((self.cal, 0), (self.head, 0))
        self.connect((self.cal, 1), (self.head, 1))
        self.connect((self.cal, 0), (self.scene, 0))
        self.connect((self.head, 1), (self.rap, 1))
        self.connect((self.head, 3), (self.rap, 3))
        self.connect((self.head, 2), (self.rap, 2))
        self.connect((self.head, 0), (self.rap, 0))
        self.connect((self.head, 5), (self.rap, 4))
        self.connect((self.head, 2), (self.recorder, 2))
        self.connect((self.head, 3), (self.recorder, 3))
        self.connect((self.head, 0), (self.recorder, 0))
        self.connect((self.head, 5), (self.recorder, 5))
        self.connect((self.head, 4), (self.recorder, 4))
        self.connect((self.head, 1), (self.recorder, 1))
        self.connect((self.radio, 0), (self.align, 0))
        self.connect((self.radio, 2), (self.align, 2))
        self.connect((self.radio, 3), (self.align, 3))
        self.connect((self.radio, 1), (self.align, 1))
        self.connect((self.rap, 0), (self.fix_file, 0))
        self.connect((self.scene, 1), (self.head, 5))
        self.connect((self.scene, 0), (self.head, 4))


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

    def get_raps(self):
        return self.raps

    def set_raps(self, raps):
        self.raps = raps

    def get_source(self):
        return self.source

    def set_source(self, source):
        self.source = source

    def get_record(self):
        return self.record

    def set_record(self, record):
        self.record = record

    def get_calibration(self):
        return self.calibration

    def set_calibration(self, calibration):
        self.calibration = calibration

    def get_num_blocks(self):
        return self.num_blocks

    def set_num_blocks(self, num_blocks):
        self.num_blocks = num_blocks

    def get_seed(self):
        return self.seed

    def set_seed(self, seed):
        self.seed = seed

    def get_fix_path(self):
        return self.fix_path

    def set_fix_path(self, fix_path):
        self.fix_path = fix_path
        self.fix_file.open(self.fix_path)

    def get_capture(self):
        return self.capture

    def set_capture(self, capture):
        self.capture = capture

    def get_sources(self):
        return self.sources

    def set_sources(self, sources):
        self.sources = sources

    def get_music_threads(self):
        return self.music_threads

    def set_music_threads(self, music_threads):
        self.music_threads = music_threads

    def get_idle_timeout(self):
        return self.idle_timeout

    def set_idle_timeout(self, idle_timeout):
        self.idle_timeout = idle_timeout

    def get_cfg(self):
        return self.cfg

    def set_cfg(self, cfg):
        self.cfg = cfg



def argument_parser():
    description = 'The RAPs received by a UHD or SoapySDR radio (or without radios from a GNU Radio metadata file or ZeroMQ with the same rx_time tags), cut into the coherence blocks of the radio-time grid (overflows realigned and reported), calibrated, localized by MUSIC per RAP and fusion; fixes to fix_path, a SigMF capture, a summary at the end.'
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
        "--raps", dest="raps", type=str, default='',
        help="Set RAPs this radio receives, 1-based ('' = all) [default=%(default)r]")
    parser.add_argument(
        "--source", dest="source", type=str, default='',
        help="Set Metadata file or ZeroMQ address (driver file / zeromq) [default=%(default)r]")
    parser.add_argument(
        "--record", dest="record", type=str, default='',
        help="Set Record the radio stream to (metadata file) [default=%(default)r]")
    parser.add_argument(
        "--calibration", dest="calibration", type=str, default='',
        help="Set Calibration file ('' = none) [default=%(default)r]")
    parser.add_argument(
        "--num-blocks", dest="num_blocks", type=intx, default=100,
        help="Set Coherence blocks (0: until the stream ends) [default=%(default)r]")
    parser.add_argument(
        "--seed", dest="seed", type=intx, default=1,
        help="Set Seed of the TAP side's scenario [default=%(default)r]")
    parser.add_argument(
        "--fix-path", dest="fix_path", type=str, default='radio_fix.f32',
        help="Set Positions (float32 fix items) [default=%(default)r]")
    parser.add_argument(
        "--capture", dest="capture", type=str, default='',
        help="Set Record the aligned blocks (folder/NAME, SigMF) [default=%(default)r]")
    parser.add_argument(
        "--sources", dest="sources", type=intx, default=0,
        help="Set MUSIC sources (0: MDL per block) [default=%(default)r]")
    parser.add_argument(
        "--music-threads", dest="music_threads", type=intx, default=1,
        help="Set MUSIC threads (2 pays on 4x4 RAPs) [default=%(default)r]")
    parser.add_argument(
        "--idle-timeout", dest="idle_timeout", type=eng_float, default=eng_notation.num_to_str(float(10)),
        help="Set End after this many idle seconds (0: never) [default=%(default)r]")
    return parser


def main(top_block_cls=cfisac_radio_rap, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(driver=options.driver, device_args=options.device_args, samp_rate=options.samp_rate, carrier=options.carrier, gain=options.gain, antenna=options.antenna, channels=options.channels, clock_source=options.clock_source, time_source=options.time_source, sync=options.sync, start_time=options.start_time, raps=options.raps, source=options.source, record=options.record, calibration=options.calibration, num_blocks=options.num_blocks, seed=options.seed, fix_path=options.fix_path, capture=options.capture, sources=options.sources, music_threads=options.music_threads, idle_timeout=options.idle_timeout)

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
