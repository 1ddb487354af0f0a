"""A loopback TCP proxy that cuts chosen connections after a number of bytes.

It stands between a client and a real server to reproduce a connection dropped in the
middle of an upload. Every connection and thread it makes is bounded by socket
timeouts and stopped by :meth:`CuttingProxy.close`.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    """Forward 127.0.0.1:<port> to ``target_port``; cut a connection mid-request.

    Once ``marker`` shows up in what a client sends (say ``b"?session="`` in a request
    line, on a fresh or a kept-alive connection), the connection is closed after
    ``cut_after`` more bytes have been forwarded. At most ``max_cuts`` cuts are made.
    """

    def __init__(
        self,
        target_port: int,
        marker: bytes,
        cut_after: int,
        max_cuts: int = 1,
    ) -> None:
        self.target_port = target_port
        self.marker = marker
        self.cut_after = cut_after
        self.cuts_left = max_cuts
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(30)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            client.close()
            return
        self._sockets += [client, upstream]
        try:
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            self._threads.append(back)
            since_marker: int | None = None  # bytes forwarded since the marker, once seen
            tail = b""
            while not self._stop.is_set():
                data = client.recv(65536)
                if not data:
                    return
                if since_marker is None:
                    found = (tail + data).find(self.marker)
                    with self._lock:
                        if found >= 0 and self.cuts_left > 0:
                            self.cuts_left -= 1
                            self.cuts += 1
                            since_marker = -(found - len(tail))
                    tail = data[-len(self.marker) :]
                if since_marker is not None and since_marker + len(data) >= self.cut_after:
                    upstream.sendall(data[: max(0, self.cut_after - since_marker)])
                    return  # the finally below drops both sides mid-request
                upstream.sendall(data)
                if since_marker is not None:
                    since_marker += len(data)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for sock in self._sockets:  # wakes threads blocked on kept-alive connections
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
