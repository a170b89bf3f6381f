#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: CF-ISAC simulation
# Author: gr-cfisac
# Description: The CF-ISAC chain with live displays: a user's equalized constellation, the MUSIC spectrum of RAP 1 and the measured rates over time, paced by a throttle at blocks_per_s coherence blocks per second.
# GNU Radio version: 3.10.5.1

from packaging.version import Version as StrictVersion

if __name__ == '__main__':
    import ctypes
    import sys
    if sys.platform.startswith('linux'):
        try:
            x11 = ctypes.cdll.LoadLibrary('libX11.so')
            x11.XInitThreads()
        except:
            print("Warning: failed to XInitThreads()")

from PyQt5 import Qt
from gnuradio import qtgui
from gnuradio.filter import firdes
import sip
from gnuradio import blocks
from gnuradio import cfisac
from gnuradio import gr
from gnuradio.fft import window
import sys
import signal
from argparse import ArgumentParser
from gnuradio.eng_arg import eng_float, intx
from gnuradio import eng_notation


def snipfcn_display_setup(self):
    # Size the window for all its displays, within the screen; a larger size the user saved stays.
    want = self.top_widget.sizeHint().grownBy(self.top_scroll_layout.contentsMargins())
    screen = Qt.QApplication.primaryScreen().availableSize()
    self.resize(self.size().expandedTo(want).boundedTo(screen))
    # One coherence block at a time through the throttle, so the displays move smoothly.
    self.pace.set_max_noutput_items(1)
    # Axis titles through Qwt (Debian's python3-pyqt5.qwt, which scripts/bootstrap.sh installs).
    try:
        from PyQt5 import Qwt
    except ImportError:
        print("PyQt5.Qwt is missing: the displays keep GNU Radio's axis titles", file=sys.stderr)
    else:
        def qwt_plot(win):
            return next(sip.cast(w, Qwt.QwtPlot) for w in win.findChildren(Qt.QWidget)
                        if w.metaObject().inherits(Qwt.QwtPlot.staticMetaObject))
        def set_title(plot, axis, text, font):
            title = Qwt.QwtText(text)
            title.setFont(font)
            plot.setAxisTitle(axis, title)
        rates, raster = qwt_plot(self._rates_plot_win), qwt_plot(self._spectrum_raster_win)
        x, y, bar = Qwt.QwtPlot.xBottom, Qwt.QwtPlot.yLeft, Qwt.QwtPlot.yRight
        set_title(rates, x, "Coherence block (of the last 100)", rates.axisTitle(y).font())
        # the colour bar is only as long as the raster is high: its title in its tick labels' font
        set_title(raster, bar, "MUSIC spectrum (dB below peak)", raster.axisWidget(bar).font())


def snippets_main_after_init(tb):
    snipfcn_display_setup(tb)

from gnuradio import qtgui

class cfisac_sim_qt(gr.top_block, Qt.QWidget):

    def __init__(self, num_blocks=0, seed=1, algorithm='zf', sensing_fraction=0.3, user_speed_mps=0, csv_path='', print_interval=100, rap_rows=2, rap_cols=2, sources=0, capture='', blocks_per_s=40):
        gr.top_block.__init__(self, "CF-ISAC simulation", catch_exceptions=True)
        Qt.QWidget.__init__(self)
        self.setWindowTitle("CF-ISAC simulation")
        qtgui.util.check_set_qss()
        try:
            self.setWindowIcon(Qt.QIcon.fromTheme('gnuradio-grc'))
        except:
            pass
        self.top_scroll_layout = Qt.QVBoxLayout()
        self.setLayout(self.top_scroll_layout)
        self.top_scroll = Qt.QScrollArea()
        self.top_scroll.setFrameStyle(Qt.QFrame.NoFrame)
        self.top_scroll_layout.addWidget(self.top_scroll)
        self.top_scroll.setWidgetResizable(True)
        self.top_widget = Qt.QWidget()
        self.top_scroll.setWidget(self.top_widget)
        self.top_layout = Qt.QVBoxLayout(self.top_widget)
        self.top_grid_layout = Qt.QGridLayout()
        self.top_layout.addLayout(self.top_grid_layout)

        self.settings = Qt.QSettings("GNU Radio", "cfisac_sim_qt")

        try:
            if StrictVersion(Qt.qVersion()) < StrictVersion("5.0.0"):
                self.restoreGeometry(self.settings.value("geometry").toByteArray())
            else:
                self.restoreGeometry(self.settings.value("geometry"))
        except:
            pass

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
        self.blocks_per_s = blocks_per_s

        ##################################################
        # Variables
        ##################################################
        self.cfg = cfg = cfisac.SystemConfig(NT=8, NR=4, MT_shape=(2, 2), MR_shape=(rap_rows, rap_cols), K=4, NC=2, tau_c=196, tau_p=4, tap_power_dbm=(-12.0), pilot_power_dbm=0.0, carrier_hz=3.5e9, bandwidth_hz=20e6, noise_figure_db=9.0, rcs_target_m2=20.0, rcs_clutter_m2=10.0, area_m=50.0, **{})

        ##################################################
        # Blocks
        ##################################################

        self.transmitter = cfisac.transmitter(cfg, seed=(seed + 1), sensing_symbols="gaussian", max_blocks=64)
        self.spectrum_stream = blocks.vector_to_stream(gr.sizeof_float*1, cfisac.display_size(4.0))
        self.spectrum_raster = qtgui.time_raster_sink_f(
            1,
            90,
            23,
            [],
            [],
            "MUSIC spectrum, RAP 1 (dB below its peak)",
            1,
            None
        )

        self.spectrum_raster.set_update_time(0)
        self.spectrum_raster.set_intensity_range((-30), 0)
        self.spectrum_raster.enable_grid(False)
        self.spectrum_raster.enable_axis_labels(True)
        self.spectrum_raster.set_x_label("elevation (deg)")
        self.spectrum_raster.set_x_range(0.0, 90.0)
        self.spectrum_raster.set_y_label("azimuth (deg)")
        self.spectrum_raster.set_y_range(176.0, -180.0)

        labels = ['', '', '', '', '',
            '', '', '', '', '']
        colors = [0, 0, 0, 0, 0,
            0, 0, 0, 0, 0]
        alphas = [1.0, 1.0, 1.0, 1.0, 1.0,
            1.0, 1.0, 1.0, 1.0, 1.0]

        for i in range(1):
            if len(labels[i]) == 0:
                self.spectrum_raster.set_line_label(i, "Data {0}".format(i))
            else:
                self.spectrum_raster.set_line_label(i, labels[i])
            self.spectrum_raster.set_color_map(i, colors[i])
            self.spectrum_raster.set_line_alpha(i, alphas[i])

        self._spectrum_raster_win = sip.wrapinstance(self.spectrum_raster.qwidget(), Qt.QWidget)
        self.top_grid_layout.addWidget(self._spectrum_raster_win, 0, 1, 1, 1)
        for r in range(0, 1):
            self.top_grid_layout.setRowStretch(r, 1)
        for c in range(1, 2):
            self.top_grid_layout.setColumnStretch(c, 1)
        self.spectrum_keep = blocks.keep_one_in_n(gr.sizeof_float*cfisac.display_size(4.0), 8)
        self.scenario = cfisac.scenario_source(cfg, seed=seed, num_blocks=num_blocks, scene="paper", user_speed_mps=user_speed_mps, target_speed_mps=0.0, block_interval_s=0.0, max_blocks=64)
        self.recorder = cfisac.sigmf_sink(cfg, capture, preset='replay', description='', overwrite=True, max_blocks=64, num_blocks=0)
        self.rates_plot = qtgui.time_sink_f(
            100, #size
            1, #samp_rate
            "Measured rates (bps/Hz) per coherence block", #name
            8, #number of inputs
            None # parent
        )
        self.rates_plot.set_update_time(0.10)
        self.rates_plot.set_y_axis(0, 10)

        self.rates_plot.set_y_label("rate (bps/Hz)", "")

        self.rates_plot.enable_tags(False)
        self.rates_plot.set_trigger_mode(qtgui.TRIG_MODE_FREE, qtgui.TRIG_SLOPE_POS, 0.0, 0, 0, "")
        self.rates_plot.enable_autoscale(True)
        self.rates_plot.enable_grid(False)
        self.rates_plot.enable_axis_labels(True)
        self.rates_plot.enable_control_panel(False)
        self.rates_plot.enable_stem_plot(False)


        labels = ['user 1', 'user 2', 'user 3', 'user 4', 'RAP 1',
            'RAP 2', 'RAP 3', 'RAP 4', 'Signal 9', 'Signal 10']
        widths = [1, 1, 1, 1, 1,
            1, 1, 1, 1, 1]
        colors = ['blue', 'red', 'green', 'black', 'cyan',
            'magenta', 'yellow', 'dark red', 'dark green', 'dark blue']
        alphas = [1.0, 1.0, 1.0, 1.0, 1.0,
            1.0, 1.0, 1.0, 1.0, 1.0]
        styles = [1, 1, 1, 1, 1,
            1, 1, 1, 1, 1]
        markers = [-1, -1, -1, -1, -1,
            -1, -1, -1, -1, -1]


        for i in range(8):
            if len(labels[i]) == 0:
                self.rates_plot.set_line_label(i, "Data {0}".format(i))
            else:
                self.rates_plot.set_line_label(i, labels[i])
            self.rates_plot.set_line_width(i, widths[i])
            self.rates_plot.set_line_color(i, colors[i])
            self.rates_plot.set_line_style(i, styles[i])
            self.rates_plot.set_line_marker(i, markers[i])
            self.rates_plot.set_line_alpha(i, alphas[i])

        self._rates_plot_win = sip.wrapinstance(self.rates_plot.qwidget(), Qt.QWidget)
        self.top_grid_layout.addWidget(self._rates_plot_win, 1, 0, 1, 2)
        for r in range(1, 2):
            self.top_grid_layout.setRowStretch(r, 1)
        for c in range(0, 2):
            self.top_grid_layout.setColumnStretch(c, 1)
        self.rate_streams = blocks.vector_to_streams(gr.sizeof_float*1, 8)
        self.precoder = cfisac.precoder(cfg, algorithm=algorithm, sensing_fraction=sensing_fraction, sensing_beam="nullspace", per_tap=False, regime="joint", eta=0.5, threads=1, remote_address='', remote_timeout_ms=500, fallback="zf", msg_interval=1, max_blocks=64, threshold=0.0)
        self.pace = blocks.throttle(gr.sizeof_gr_complex*cfisac.item_size(cfg, 'geometry'), blocks_per_s,True)
        self.music = cfisac.music_localizer(cfg, n_sources=sources, n_peaks=0, method="fast", num_raps=0, display_step_deg=4.0, msg_interval=1, max_blocks=64, num_blocks=0, workers=1)
        self.metrics = cfisac.metrics_sink(cfg, with_sensing=True, csv_path=csv_path, print_interval=print_interval, display_user=1, msg_interval=1, history=10000, max_blocks=64)
        self.fusion = cfisac.fusion(cfg, n_peaks=0, association="prior", gate_deg=10.0, known_height=True, msg_interval=1, max_blocks=64, num_blocks=0)
        self.estimator = cfisac.pilot_estimator(cfg, method="mmse", num_taps=0, max_blocks=64)
        self.echo = cfisac.echo_channel(cfg, seed=(seed + 3), noise=True, max_blocks=64)
        self.downlink = cfisac.downlink_channel(cfg, seed=(seed + 2), noise=True, max_blocks=64)
        self.constellation = qtgui.const_sink_c(
            768, #size
            "User 1, equalized", #name
            1, #number of inputs
            None # parent
        )
        self.constellation.set_update_time(0.10)
        self.constellation.set_y_axis((-2), 2)
        self.constellation.set_x_axis((-2), 2)
        self.constellation.set_trigger_mode(qtgui.TRIG_MODE_FREE, qtgui.TRIG_SLOPE_POS, 0.0, 0, "")
        self.constellation.enable_autoscale(False)
        self.constellation.enable_grid(False)
        self.constellation.enable_axis_labels(True)


        labels = ['', '', '', '', '',
            '', '', '', '', '']
        widths = [1, 1, 1, 1, 1,
            1, 1, 1, 1, 1]
        colors = ["blue", "red", "red", "red", "red",
            "red", "red", "red", "red", "red"]
        styles = [0, 0, 0, 0, 0,
            0, 0, 0, 0, 0]
        markers = [0, 0, 0, 0, 0,
            0, 0, 0, 0, 0]
        alphas = [1.0, 1.0, 1.0, 1.0, 1.0,
            1.0, 1.0, 1.0, 1.0, 1.0]

        for i in range(1):
            if len(labels[i]) == 0:
                self.constellation.set_line_label(i, "Data {0}".format(i))
            else:
                self.constellation.set_line_label(i, labels[i])
            self.constellation.set_line_width(i, widths[i])
            self.constellation.set_line_color(i, colors[i])
            self.constellation.set_line_style(i, styles[i])
            self.constellation.set_line_marker(i, markers[i])
            self.constellation.set_line_alpha(i, alphas[i])

        self._constellation_win = sip.wrapinstance(self.constellation.qwidget(), Qt.QWidget)
        self.top_grid_layout.addWidget(self._constellation_win, 0, 0, 1, 1)
        for r in range(0, 1):
            self.top_grid_layout.setRowStretch(r, 1)
        for c in range(0, 1):
            self.top_grid_layout.setColumnStretch(c, 1)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.downlink, 1), (self.metrics, 1))
        self.connect((self.downlink, 3), (self.metrics, 3))
        self.connect((self.downlink, 2), (self.metrics, 2))
        self.connect((self.downlink, 0), (self.metrics, 0))
        self.connect((self.echo, 1), (self.metrics, 9))
        self.connect((self.echo, 2), (self.metrics, 10))
        self.connect((self.echo, 0), (self.metrics, 8))
        self.connect((self.echo, 3), (self.metrics, 11))
        self.connect((self.echo, 3), (self.music, 3))
        self.connect((self.echo, 1), (self.music, 1))
        self.connect((self.echo, 0), (self.music, 0))
        self.connect((self.echo, 2), (self.music, 2))
        self.connect((self.echo, 2), (self.recorder, 2))
        self.connect((self.echo, 3), (self.recorder, 3))
        self.connect((self.echo, 0), (self.recorder, 0))
        self.connect((self.echo, 1), (self.recorder, 1))
        self.connect((self.estimator, 1), (self.precoder, 1))
        self.connect((self.estimator, 3), (self.precoder, 3))
        self.connect((self.estimator, 2), (self.precoder, 2))
        self.connect((self.estimator, 6), (self.precoder, 6))
        self.connect((self.estimator, 7), (self.precoder, 7))
        self.connect((self.estimator, 0), (self.precoder, 0))
        self.connect((self.estimator, 5), (self.precoder, 5))
        self.connect((self.estimator, 4), (self.precoder, 4))
        self.connect((self.fusion, 0), (self.metrics, 12))
        self.connect((self.metrics, 1), (self.constellation, 0))
        self.connect((self.metrics, 0), (self.rate_streams, 0))
        self.connect((self.music, 1), (self.fusion, 1))
        self.connect((self.music, 3), (self.fusion, 3))
        self.connect((self.music, 0), (self.fusion, 0))
        self.connect((self.music, 2), (self.fusion, 2))
        self.connect((self.music, 4), (self.spectrum_keep, 0))
        self.connect((self.pace, 0), (self.fusion, 4))
        self.connect((self.pace, 0), (self.metrics, 7))
        self.connect((self.pace, 0), (self.precoder, 8))
        self.connect((self.pace, 0), (self.recorder, 5))
        self.connect((self.precoder, 8), (self.metrics, 6))
        self.connect((self.precoder, 2), (self.transmitter, 2))
        self.connect((self.precoder, 4), (self.transmitter, 4))
        self.connect((self.precoder, 1), (self.transmitter, 1))
        self.connect((self.precoder, 5), (self.transmitter, 5))
        self.connect((self.precoder, 0), (self.transmitter, 0))
        self.connect((self.precoder, 7), (self.transmitter, 7))
        self.connect((self.precoder, 3), (self.transmitter, 3))
        self.connect((self.precoder, 6), (self.transmitter, 6))
        self.connect((self.rate_streams, 2), (self.rates_plot, 2))
        self.connect((self.rate_streams, 5), (self.rates_plot, 5))
        self.connect((self.rate_streams, 3), (self.rates_plot, 3))
        self.connect((self.rate_streams, 1), (self.rates_plot, 1))
        self.connect((self.rate_streams, 6), (self.rates_plot, 6))
        self.connect((self.rate_streams, 0), (self.rates_plot, 0))
        self.connect((self.rate_streams, 4), (self.rates_plot, 4))
        self.connect((self.rate_streams, 7), (self.rates_plot, 7))
        self.connect((self.scenario, 16), (self.downlink, 8))
        self.connect((self.scenario, 16), (self.echo, 8))
        self.connect((self.scenario, 12), (self.estimator, 12))
        self.connect((self.scenario, 0), (self.estimator, 0))
        self.connect((self.scenario, 9), (self.estimator, 9))
        self.connect((self.scenario, 15), (self.estimator, 15))
        self.connect((self.scenario, 1), (self.estimator, 1))
        self.connect((self.scenario, 13), (self.estimator, 13))
        self.connect((self.scenario, 3), (self.estimator, 3))
        self.connect((self.scenario, 2), (self.estimator, 2))
        self.connect((self.scenario, 14), (self.estimator, 14))
        self.connect((self.scenario, 11), (self.estimator, 11))
        self.connect((self.scenario, 6), (self.estimator, 6))
        self.connect((self.scenario, 7), (self.estimator, 7))
        self.connect((self.scenario, 5), (self.estimator, 5))
        self.connect((self.scenario, 4), (self.estimator, 4))
        self.connect((self.scenario, 8), (self.estimator, 8))
        self.connect((self.scenario, 10), (self.estimator, 10))
        self.connect((self.scenario, 18), (self.metrics, 13))
        self.connect((self.scenario, 16), (self.metrics, 5))
        self.connect((self.scenario, 17), (self.pace, 0))
        self.connect((self.scenario, 18), (self.precoder, 9))
        self.connect((self.scenario, 5), (self.recorder, 11))
        self.connect((self.scenario, 16), (self.recorder, 4))
        self.connect((self.scenario, 8), (self.recorder, 14))
        self.connect((self.scenario, 10), (self.recorder, 16))
        self.connect((self.scenario, 4), (self.recorder, 10))
        self.connect((self.scenario, 14), (self.recorder, 20))
        self.connect((self.scenario, 2), (self.recorder, 8))
        self.connect((self.scenario, 1), (self.recorder, 7))
        self.connect((self.scenario, 0), (self.recorder, 6))
        self.connect((self.scenario, 11), (self.recorder, 17))
        self.connect((self.scenario, 12), (self.recorder, 18))
        self.connect((self.scenario, 9), (self.recorder, 15))
        self.connect((self.scenario, 3), (self.recorder, 9))
        self.connect((self.scenario, 13), (self.recorder, 19))
        self.connect((self.scenario, 6), (self.recorder, 12))
        self.connect((self.scenario, 15), (self.recorder, 21))
        self.connect((self.scenario, 7), (self.recorder, 13))
        self.connect((self.spectrum_keep, 0), (self.spectrum_stream, 0))
        self.connect((self.spectrum_stream, 0), (self.spectrum_raster, 0))
        self.connect((self.transmitter, 7), (self.downlink, 7))
        self.connect((self.transmitter, 6), (self.downlink, 6))
        self.connect((self.transmitter, 1), (self.downlink, 1))
        self.connect((self.transmitter, 0), (self.downlink, 0))
        self.connect((self.transmitter, 2), (self.downlink, 2))
        self.connect((self.transmitter, 4), (self.downlink, 4))
        self.connect((self.transmitter, 5), (self.downlink, 5))
        self.connect((self.transmitter, 3), (self.downlink, 3))
        self.connect((self.transmitter, 2), (self.echo, 2))
        self.connect((self.transmitter, 7), (self.echo, 7))
        self.connect((self.transmitter, 0), (self.echo, 0))
        self.connect((self.transmitter, 3), (self.echo, 3))
        self.connect((self.transmitter, 6), (self.echo, 6))
        self.connect((self.transmitter, 1), (self.echo, 1))
        self.connect((self.transmitter, 4), (self.echo, 4))
        self.connect((self.transmitter, 5), (self.echo, 5))
        self.connect((self.transmitter, 8), (self.metrics, 4))


    def closeEvent(self, event):
        self.settings = Qt.QSettings("GNU Radio", "cfisac_sim_qt")
        self.settings.setValue("geometry", self.saveGeometry())
        self.stop()
        self.wait()

        event.accept()

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

    def get_blocks_per_s(self):
        return self.blocks_per_s

    def set_blocks_per_s(self, blocks_per_s):
        self.blocks_per_s = blocks_per_s
        self.pace.set_sample_rate(self.blocks_per_s)

    def get_cfg(self):
        return self.cfg

    def set_cfg(self, cfg):
        self.cfg = cfg



def argument_parser():
    description = "The CF-ISAC chain with live displays: a user's equalized constellation, the MUSIC spectrum of RAP 1 and the measured rates over time, paced by a throttle at blocks_per_s coherence blocks per second."
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "--num-blocks", dest="num_blocks", type=intx, default=0,
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
    parser.add_argument(
        "--blocks-per-s", dest="blocks_per_s", type=eng_float, default=eng_notation.num_to_str(float(40)),
        help="Set Coherence blocks per second [default=%(default)r]")
    return parser


def main(top_block_cls=cfisac_sim_qt, options=None):
    if options is None:
        options = argument_parser().parse_args()

    if StrictVersion("4.5.0") <= StrictVersion(Qt.qVersion()) < StrictVersion("5.0.0"):
        style = gr.prefs().get_string('qtgui', 'style', 'raster')
        Qt.QApplication.setGraphicsSystem(style)
    qapp = Qt.QApplication(sys.argv)

    tb = top_block_cls(num_blocks=options.num_blocks, seed=options.seed, algorithm=options.algorithm, sensing_fraction=options.sensing_fraction, user_speed_mps=options.user_speed_mps, csv_path=options.csv_path, print_interval=options.print_interval, rap_rows=options.rap_rows, rap_cols=options.rap_cols, sources=options.sources, capture=options.capture, blocks_per_s=options.blocks_per_s)
    snippets_main_after_init(tb)
    tb.start()

    tb.show()

    def sig_handler(sig=None, frame=None):
        tb.stop()
        tb.wait()

        Qt.QApplication.quit()

    signal.signal(signal.SIGINT, sig_handler)
    signal.signal(signal.SIGTERM, sig_handler)

    timer = Qt.QTimer()
    timer.start(500)
    timer.timeout.connect(lambda: None)

    qapp.exec_()

if __name__ == '__main__':
    main()
