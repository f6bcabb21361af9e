"""The debug plugin's jsonl with big messages: the body goes to a
temporary file past 1 MiB, as the text frame does, and the JSON line is
made from it in bounded pieces, so the worker's peak memory (VmHWM) stays
under test_stream's bound for a 24 MiB UTF-8 message and a 21 MiB one
whose last byte is not UTF-8 (so base64, decided over the whole body).
Both are sent at once by two clients to two workers: each line is whole
(json.loads) and each body is compared byte for byte."""
import base64
import json
import threading

from harness import Client, check, eq, read_file, wait_until
from test_maildir import server_worker
from test_stream import BLOCK, BLOCK_DECODED, HEADER, HEADER_DECODED, check_hwm, vm_hwm_kb

TEXT_MB, BINARY_MB = 24, 21
# The binary message ends in bytes that are not UTF-8, after the last
# block: whatever was seen before, the body is base64.  Its length makes
# base64 pad (not a multiple of 3).
BINARY_TAIL = b"tail \xff\xfe"


def send(c, mb, tail, out):
    """The header, mb blocks, tail and the final dot; the reply into out."""
    c.begin_data()
    c.send(HEADER)
    for _ in range(mb):
        c.sock.sendall(BLOCK)
    c.sock.sendall(tail + b"\r\n.\r\n")
    out.append("\n".join(c.reply()))


def test_jsonl_big_messages_in_bounded_memory(ctx):
    text, port, out = ctx.listener(workers=2, data_size_limit=0)
    text = text.replace('debug = { output = "%s"; };' % out,
                        'debug = { output = "%s"; format = "jsonl"; };' % out)
    d = ctx.daemon(ctx.config([text]))
    d.wait_workers(2)
    clients = [Client(port, timeout=600), Client(port, timeout=600)]
    replies = [[], []]
    try:
        threads = [threading.Thread(target=send, args=(clients[0], TEXT_MB, b"last", replies[0])),
                   threading.Thread(target=send, args=(clients[1], BINARY_MB, BINARY_TAIL,
                                                       replies[1]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        eq(replies, [["250 OK"], ["250 OK"]], "replies")
        workers = {server_worker(d, port, c.sock) for c in clients}
        eq(len(workers), 2, "two workers")
        for w in workers:
            check_hwm(vm_hwm_kb(w), TEXT_MB)
    finally:
        for c in clients:
            c.close()
    wait_until(lambda: read_file(out).count(b"\n") >= 2, what="two JSON lines")
    raw = read_file(out)
    eq(raw.count(b"\n"), 2, "lines")
    objs = {o["body_encoding"]: o for o in (json.loads(x) for x in raw.splitlines())}
    eq(sorted(objs), ["base64", "utf-8"], "one of each encoding")
    want_text = BLOCK_DECODED * TEXT_MB + b"last"
    eq(objs["utf-8"]["headers"], [["Subject", "big"], ["X-Test", "stream"]], "headers")
    eq(objs["utf-8"]["size"], len(HEADER_DECODED) + len(want_text), "text size")
    check(objs["utf-8"]["body"].encode("utf-8") == want_text, "the UTF-8 body, byte for byte")
    want_binary = BLOCK_DECODED * BINARY_MB + BINARY_TAIL
    eq(objs["base64"]["size"], len(HEADER_DECODED) + len(want_binary), "binary size")
    check(objs["base64"]["body"].endswith("="), "base64 padded")
    check(base64.b64decode(objs["base64"]["body"], validate=True) == want_binary,
          "the 8-bit body, byte for byte")
