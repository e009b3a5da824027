"""A scripted remote SMTP server on loopback, standing in for other organisations' MX
hosts: it records what it accepts and answers RCPT as its script says (accept, grey-list
the first attempt of each recipient, or refuse for good)."""
import socket
import ssl
import threading


class RemoteMx:
    def __init__(self, mode="accept", data_delay=0.0, tls=None, host="127.0.0.1", port=0):
        """`tls`: an ssl.SSLContext to offer STARTTLS with; `host` and `port`: where to
        listen (several MX hosts on one port, each on a loopback address of its own)."""
        self.mode, self.data_delay, self.tls = mode, data_delay, tls
        self.tls_sessions = 0
        self.messages = []  # (mail_from, [rcpt], data bytes)
        self.attempts = {}  # recipient -> RCPT count
        self.starttls_offered = False
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def stop(self):
        self.running = False
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the
        # socket listening.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _rcpt_reply(self, rcpt):
        with self.lock:
            n = self.attempts[rcpt] = self.attempts.get(rcpt, 0) + 1
        if self.mode == "reject" or rcpt.startswith("nobody@"):
            return b"550 5.1.1 No such user here\r\n"
        if self.mode == "greylist" and n == 1:
            return b"451 4.7.1 Greylisted, try again later\r\n"
        return b"250 2.1.5 OK\r\n"

    def _session(self, conn):
        f = conn.makefile("rb")
        send = conn.sendall
        try:
            send(b"220 remote.test ESMTP scripted\r\n")
            mail_from, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").strip()
                verb = cmd.split(" ")[0].upper().split(":")[0]
                if verb in ("EHLO", "HELO"):
                    offer = b"250-STARTTLS\r\n" if self.tls and not isinstance(conn, ssl.SSLSocket) else b""
                    send(b"250-remote.test\r\n" + offer + b"250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == "STARTTLS" and self.tls:
                    send(b"220 2.0.0 Ready to start TLS\r\n")
                    conn = self.tls.wrap_socket(conn, server_side=True)
                    f, send = conn.makefile("rb"), conn.sendall
                    with self.lock:
                        self.tls_sessions += 1
                elif verb == "MAIL":
                    mail_from, rcpts = cmd[cmd.index("<") + 1:cmd.rindex(">")], []
                    send(b"250 2.1.0 OK\r\n")
                elif verb == "RCPT":
                    rcpt = cmd[cmd.index("<") + 1:cmd.rindex(">")]
                    reply = self._rcpt_reply(rcpt)
                    if reply.startswith(b"250"):
                        rcpts.append(rcpt)
                    send(reply)
                elif verb == "DATA":
                    send(b"354 go ahead\r\n")
                    data = b""
                    while True:
                        chunk = f.readline()
                        if not chunk:
                            return
                        if chunk == b".\r\n":
                            break
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    if self.data_delay:
                        import time
                        time.sleep(self.data_delay)
                    with self.lock:
                        self.messages.append((mail_from, list(rcpts), data))
                    send(b"250 2.0.0 Accepted\r\n")
                elif verb == "RSET":
                    send(b"250 2.0.0 OK\r\n")
                elif verb == "QUIT":
                    send(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    send(b"502 5.5.1 Not implemented\r\n")
        except OSError:
            return
        finally:
            conn.close()

    def received_by(self, rcpt):
        with self.lock:
            return [m for m in self.messages if rcpt in m[1]]
