"""bench/pysmtpd_sink.py - Python 3.11's stdlib smtpd as a do-nothing server.

usage: python3 bench/pysmtpd_sink.py HOST PORT

The "pysmtpd-discard" peer of bench/harness.sh: smtpd.SMTPServer whose
process_message() keeps nothing and returns None, so every message gets
smtpd.py's own "250 OK" (DebuggingServer without the printing).  It runs
asyncore's loop until SIGTERM.  It must never store or print a message:
it measures smtpd.py's protocol cost alone.
"""
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import asyncore  # noqa: E402  (after the filter: both warn on import in 3.11)
import smtpd  # noqa: E402


class DiscardServer(smtpd.SMTPServer):
    """Answers every message with smtpd.py's default 250 and drops it."""

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        return None


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    DiscardServer((host, port), None, decode_data=False)
    asyncore.loop()


if __name__ == "__main__":
    main()
