"""Socket I/O with a timeout on every wait, and the outcomes a test needs to tell apart.

A server that breaks the protocol raises Violation; a server that closes raises Closed; a server
that goes quiet raises Timeout. Nothing here ever blocks longer than the timeout it was given.
"""

import errno
import socket


class Violation(Exception):
    """The server broke a MUST of the spec; the text names what and, where useful, the rule."""


class Closed(Exception):
    """The server closed the connection (EOF, reset or broken pipe)."""


class Timeout(Exception):
    """The server neither answered nor closed within the timeout."""


CLOSING_ERRNOS = (errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED, errno.ENOTCONN)


class Target:
    """Where the server listens: ("unix", path) or ("tcp", (host, port))."""

    def __init__(self, kind, address, timeout):
        self.kind = kind
        self.address = address
        self.timeout = timeout

    def describe(self):
        if self.kind == "unix":
            return "unix:" + self.address
        return "tcp:%s:%d" % self.address


class Wire:
    """One connection. Every receive waits at most `timeout` seconds for progress."""

    def __init__(self, target):
        self.timeout = target.timeout
        if target.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(target.address)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection(target.address, timeout=self.timeout)
            # The spec asks both ends to disable Nagle so small replies are not delayed.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, data):
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise Timeout("sending %d bytes made no progress for %gs" % (len(data), self.timeout))
        except OSError as err:
            if err.errno in CLOSING_ERRNOS:
                raise Closed("server closed the connection while the client was sending (%s)"
                             % errno.errorcode.get(err.errno, err.errno))
            raise

    def recv_exact(self, count, what):
        """Exactly `count` bytes, or Closed/Timeout naming `what` was expected."""
        buf = bytearray(count)
        view = memoryview(buf)
        got = 0
        while got < count:
            try:
                n = self.sock.recv_into(view[got:], count - got)
            except socket.timeout:
                raise Timeout("waited %gs for %s (%d of %d bytes)" % (self.timeout, what, got, count))
            except OSError as err:
                if err.errno in CLOSING_ERRNOS:
                    raise Closed("connection reset while %s was expected" % what)
                raise
            if n == 0:
                raise Closed("server closed the connection while %s was expected (%d of %d bytes)"
                             % (what, got, count))
            got += n
        return bytes(buf)

    def wait_close(self, timeout=None):
        """Read until the server closes. Returns (closed, bytes received before close/timeout)."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        received = bytearray()
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True, bytes(received)
                if len(received) < (1 << 20):
                    received += chunk
        except socket.timeout:
            return False, bytes(received)
        except OSError as err:
            if err.errno in CLOSING_ERRNOS:
                return True, bytes(received)
            raise
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)

    def shutdown_write(self):
        """Half-close: the server reads EOF, the client can still read what it sends."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def check_string(raw, what):
    """Strings in NBD are UTF-8 without NUL and MUST be no longer than 4096 bytes."""
    if len(raw) > 4096:
        raise Violation("%s is %d bytes; strings MUST be no longer than 4096 bytes" % (what, len(raw)))
    if b"\0" in raw:
        raise Violation("%s contains NUL; strings MUST NOT contain NUL characters" % what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Violation("%s is not valid UTF-8" % what)
