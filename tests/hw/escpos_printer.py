#!/usr/bin/python3
"""A receipt printer stand-in for the tests: interprets an ESC/POS stream.

  escpos_printer.py serve --out DIR [--port N] [--port-file F]
                          [--mode normal|paper-out|offline|silent|refuse|keep-open]
      A real TCP server on 127.0.0.1 (port 0: any free one; the port is
      written to --port-file and printed as "PORT N"). Each connection is a
      printer link: ESC @ starts a job, GS v 0 bands add rows, ESC d n feeds,
      GS V cuts, and DLE EOT n is answered (online, paper present; or paper
      end for paper-out; offline for offline). Each cut job is written as
      DIR/job-NNNN.png (the raster, black = printed dot) and DIR/job-NNNN.json
      (bands, feed, cut, the widths). silent: connections are accepted, never
      read nor answered. refuse: the port is held but not listened on, so a
      connection is refused. keep-open: as normal, and a status byte sent
      unasked after each cut, the link kept open 5 s after the client's end.
  escpos_printer.py decode FILE DIR
      The same for a file: transport's output (DLE EOT not answered).
"""
import argparse
import json
import os
import socket
import sys
import threading

from PIL import Image

STATUS = {
    'normal': {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12},
    'paper-out': {1: 0x12, 2: 0x32, 3: 0x12, 4: 0x72},
    'offline': {1: 0x1a, 2: 0x16, 3: 0x12, 4: 0x12},
}


class Interpreter:
    """Feed it bytes; it calls on_job(image, info) at each cut and answer(b)
    for DLE EOT."""

    def __init__(self, on_job, answer=None, status=None):
        self.buf = bytearray()
        self.on_job = on_job
        self.answer = answer
        self.status = status or STATUS['normal']
        self.reset()

    def reset(self):
        self.rows = []  # each row: bytes
        self.width_bytes = None
        self.bands = []
        self.feed = 0
        self.inits = 0
        self.unknown = 0
        self.errors = []

    def feed_bytes(self, data):
        self.buf += data
        while self._step():
            pass

    def _need(self, n):
        return len(self.buf) >= n

    def _step(self):
        b = self.buf
        if not b:
            return False
        c = b[0]
        if c == 0x1b:  # ESC
            if not self._need(2):
                return False
            if b[1] == 0x40:  # ESC @
                if self.rows:
                    self.errors.append('ESC @ inside a job: rows dropped')
                self.reset()
                self.inits = 1
                del b[:2]
                return True
            if b[1] == 0x64:  # ESC d n
                if not self._need(3):
                    return False
                self.feed += b[2]
                del b[:3]
                return True
            self.unknown += 1
            del b[:1]
            return True
        if c == 0x1d:  # GS
            if not self._need(2):
                return False
            if b[1] == 0x76:  # GS v 0 m xL xH yL yH
                if not self._need(8):
                    return False
                if b[2] != 0x30:
                    self.unknown += 1
                    del b[:1]
                    return True
                xb = b[4] | b[5] << 8
                y = b[6] | b[7] << 8
                if not self._need(8 + xb * y):
                    return False
                if self.width_bytes is not None and xb != self.width_bytes:
                    self.errors.append('band width %d != %d' % (xb, self.width_bytes))
                self.width_bytes = xb
                data = bytes(b[8:8 + xb * y])
                for r in range(y):
                    self.rows.append(data[r * xb:(r + 1) * xb])
                self.bands.append({'mode': b[3], 'width_bytes': xb, 'rows': y})
                del b[:8 + xb * y]
                return True
            if b[1] == 0x56:  # GS V m [n]
                if not self._need(3):
                    return False
                m = b[2]
                n = 4 if m in (65, 66) else 3
                if not self._need(n):
                    return False
                self._emit(cut={0: 'full', 48: 'full', 65: 'full'}.get(m, 'partial'))
                del b[:n]
                return True
            self.unknown += 1
            del b[:1]
            return True
        if c == 0x10:  # DLE
            if not self._need(3):
                return False
            if b[1] == 0x04:  # DLE EOT n
                n = b[2]
                if self.answer:
                    self.answer(bytes([self.status.get(n, 0x12)]))
                del b[:3]
                return True
            self.unknown += 1
            del b[:1]
            return True
        if c == 0x0a:  # LF: a line feed
            self.feed += 1
            del b[:1]
            return True
        self.unknown += 1
        del b[:1]
        return True

    def finish(self):
        if self.rows:
            self._emit(cut=None)

    def _emit(self, cut):
        info = {'cut': cut, 'feed': self.feed, 'bands': self.bands, 'init': bool(self.inits),
                'unknown_bytes': self.unknown, 'errors': self.errors,
                'width_bytes': self.width_bytes or 0, 'rows': len(self.rows)}
        img = None
        if self.rows:
            w = self.width_bytes * 8
            raw = b''.join(self.rows)
            # ESC/POS: 1 = black dot; PIL '1' mode: 1 = white, so invert.
            img = Image.frombytes('1', (w, len(self.rows)), bytes(x ^ 0xff for x in raw))
        self.on_job(img, info)
        self.reset()


class JobWriter:
    def __init__(self, out):
        self.out = out
        self.n = 0
        self.lock = threading.Lock()
        os.makedirs(out, exist_ok=True)

    def __call__(self, img, info):
        with self.lock:
            self.n += 1
            base = os.path.join(self.out, 'job-%04d' % self.n)
        if img is not None:
            img.save(base + '.png.tmp', format='PNG')
            os.replace(base + '.png.tmp', base + '.png')
        info['png'] = os.path.basename(base + '.png') if img is not None else None
        with open(base + '.json.tmp', 'w') as f:
            json.dump(info, f)
        os.replace(base + '.json.tmp', base + '.json')


def serve_conn(conn, mode, writer):
    with conn:
        if mode == 'silent':
            # Accepted, never read: the client's status wait (and, once the
            # buffers are full, its writes) time out.
            while conn.recv(1, socket.MSG_PEEK):
                threading.Event().wait(0.2)
            return
        if mode == 'keep-open':
            # A printer that sends status on its own (ASB) after each cut and
            # keeps the link open after the client's end.
            def on_cut(img, info):
                writer(img, info)
                conn.sendall(b'\x12')
            interp = Interpreter(on_cut, answer=conn.sendall, status=STATUS['normal'])
        else:
            interp = Interpreter(writer, answer=conn.sendall, status=STATUS[mode])
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                break
            if not data:
                break
            interp.feed_bytes(data)
        interp.finish()
        if mode == 'keep-open':
            threading.Event().wait(5)


def serve(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', args.port))
    port = s.getsockname()[1]
    if args.mode != 'refuse':
        s.listen(16)
    if args.port_file:
        with open(args.port_file + '.tmp', 'w') as f:
            f.write('%d\n' % port)
        os.replace(args.port_file + '.tmp', args.port_file)
    print('PORT %d' % port, flush=True)
    if args.mode == 'refuse':
        threading.Event().wait()
    writer = JobWriter(args.out)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve_conn, args=(conn, args.mode, writer), daemon=True).start()


def decode(args):
    writer = JobWriter(args.out)
    interp = Interpreter(writer)
    with open(args.file, 'rb') as f:
        interp.feed_bytes(f.read())
    interp.finish()
    print('%d job(s)' % writer.n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    sp = sub.add_parser('serve')
    sp.add_argument('--out', required=True)
    sp.add_argument('--port', type=int, default=0)
    sp.add_argument('--port-file')
    sp.add_argument('--mode', default='normal',
                    choices=['normal', 'paper-out', 'offline', 'silent', 'refuse',
                             'keep-open'])
    dp = sub.add_parser('decode')
    dp.add_argument('file')
    dp.add_argument('out')
    args = ap.parse_args()
    try:
        serve(args) if args.cmd == 'serve' else decode(args)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    sys.exit(main())
