#!/usr/bin/env python3
# Write the hand-made seeds of regress/fuzz/corpus/ (run from anywhere;
# existing files of the same name are replaced, others are kept: the
# corpora also hold inputs the fuzzers found).  Formats: see each
# harness's comment.

import base64
import hashlib
import json
import os
import re
import struct

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def imsg_types():
    """enum imsg_type of common/emailproxy.h: name -> value."""
    types, inside, n = {}, False, 0
    with open(os.path.join(SRC, "common", "emailproxy.h")) as f:
        for line in f:
            if line.startswith("enum imsg_type"):
                inside = True
            elif inside and line.startswith("};"):
                break
            elif inside and line.strip().startswith("IMSG_"):
                name = line.strip().split(",")[0].split()[0]
                types[name[len("IMSG_"):]] = n
                n += 1
    return types


T = imsg_types()

# proxy/starttls.h
TLS_CLIENT, TLS_SERVER, SERVER_STARTTLS, LOCAL_STARTTLS, REQUIRE_TLS = \
    1, 2, 4, 8, 16


def put(target, name, data):
    d = os.path.join(TOP, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ev(op, data=b""):
    """Events of proto_driver.c: op letter, length byte, data."""
    if isinstance(data, str):
        data = data.encode()
    out = b""
    while True:
        out += op.encode() + bytes([min(len(data), 255)]) + data[:255]
        data = data[255:]
        if not data:
            return out


def session(flags, *events):
    return bytes([flags]) + b"".join(ev(*e) for e in events)


def b64(s):
    return base64.b64encode(s.encode()).decode()


PLAIN = b64("\0user@example.com\0password")

# IMAP
G = "* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR] ready\r\n"
imap = {
    "login": session(0, ("S", G), ("C", "a LOGIN user@example.com pw\r\n"),
                     ("T", "tok"), ("S", "a OK logged in\r\n")),
    "login-quoted-literal": session(
        0, ("S", G), ("C", 'a LOGIN "us\\"er" {8}\r\n'),
        ("C", "pass\r\nwd\r\n"), ("T", "tok"), ("S", "a NO bad\r\n"),
        ("T", "tok2"), ("S", "a OK\r\n")),
    "login-literal-plus": session(
        0, ("S", G), ("C", "a LOGIN {4+}\r\nuser {4+}\r\npass\r\n"),
        ("T", "tok"), ("S", "a OK\r\n")),
    "authenticate-plain-cont": session(
        0, ("S", G), ("C", "a AUTHENTICATE PLAIN\r\n"),
        ("C", PLAIN + "\r\n"), ("T", "tok"), ("S", "a OK\r\n")),
    "authenticate-plain-ir": session(
        0, ("S", "* OK ready\r\n"), ("C", "a CAPABILITY\r\n"),
        ("S", "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\na OK\r\n"),
        ("C", "b AUTHENTICATE PLAIN " + PLAIN + "\r\n"), ("T", "tok"),
        ("S", "+ eyJzdGF0dXMiOiI0MDAifQ==\r\n"), ("S", "b NO failed\r\n")),
    "authenticate-cancel": session(
        0, ("S", G), ("C", "a AUTHENTICATE PLAIN\r\n*\r\n"),
        ("C", "b AUTHENTICATE PLAIN\r\n!!!\r\n")),
    # Pipelined: the CAPABILITY's tagged OK is not the login's answer.
    "pipelined-capability-authenticate": session(
        0, ("S", G), ("C", "a CAPABILITY\r\na AUTHENTICATE FOO\r\n"),
        ("S", "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\na OK done\r\n"),
        ("S", "a NO unknown mechanism\r\n"),
        ("C", "b LOGIN user pass\r\n"), ("T", "tok"), ("S", "b OK\r\n")),
    "pipelined-noop-login": session(
        0, ("S", G), ("C", "a NOOP\r\na LOGIN user pw\r\n"), ("T", "tok"),
        ("S", "a OK noop\r\n"), ("S", "a NO [AUTHENTICATIONFAILED]\r\n"),
        ("T", "tok2"), ("S", "a NO again\r\n")),
    # Bare LF: one line for a CRLF reader, two for the server.
    "bare-lf-login": session(
        0, ("S", G), ("C", "x NOOP\na LOGIN user pass\r\n"),
        ("S", "x OK\r\n"), ("C", "b  LOGIN user pass\r\n"),
        ("C", "c LOGIN\tuser pass\r\nd UID LOGIN u p\r\n")),
    "bare-cr-login": session(
        0, ("S", G), ("C", "x NOOP\ra LOGIN user pass\r\n")),
    # The server refuses the literal: what follows is a new command.
    "literal-refused": session(
        0, ("S", G), ("C", "a SELECT {5}\r\n"),
        ("S", "a BAD literals not accepted\r\n"),
        ("C", 'hello\r\nb LOGIN user "password"\r\n'), ("T", "tok"),
        ("S", "b OK\r\n")),
    "literal-huge": session(
        0, ("S", G), ("C", "a APPEND INBOX {1000000000000}\r\n"),
        ("S", "+ go\r\n"), ("C", "x" * 600)),
    "literal-accepted": session(
        0, ("S", G), ("C", "a ID {5}\r\n"), ("S", "+ ok\r\n"),
        ("C", "hello\r\n"), ("S", "a OK\r\n")),
    # server_starttls: CAPABILITY after STARTTLS answered by a tagged OK
    # alone.
    "starttls-capa-tagged-only": session(
        SERVER_STARTTLS, ("S", "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n"),
        ("S", "epx2 OK begin TLS\r\n"), ("R",),
        ("S", "epx3 OK done\r\n"), ("C", "a LOGIN u p\r\n"), ("T", "tok"),
        ("S", "a OK\r\n")),
    "starttls-capa-command": session(
        SERVER_STARTTLS, ("S", "* OK ready\r\n"),
        ("S", "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
              "epx1 OK\r\n"),
        ("S", "epx2 OK go\r\n"), ("R",),
        ("S", "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nepx3 OK\r\n"),
        ("C", "a CAPABILITY\r\n"), ("S", "* CAPABILITY IMAP4rev1\r\n"
                                        "a OK\r\n")),
    "starttls-refused": session(
        SERVER_STARTTLS, ("S", "* OK [CAPABILITY IMAP4rev1 STARTTLS] x\r\n"),
        ("S", "epx2 NO not now\r\n")),
    "starttls-handshake-fails": session(
        SERVER_STARTTLS, ("S", "* OK [CAPABILITY IMAP4rev1 STARTTLS] x\r\n"),
        ("S", "epx2 OK\r\n"), ("R", b"\x01")),
    "local-starttls": session(
        LOCAL_STARTTLS | REQUIRE_TLS, ("S", G),
        ("C", "a LOGIN u p\r\nb CAPABILITY\r\n"),
        ("S", "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nb OK\r\n"),
        ("C", "c STARTTLS\r\n"), ("L",), ("C", "d LOGIN u p\r\n"),
        ("T", "tok"), ("S", "d OK\r\n")),
    "token-fail": session(
        0, ("S", G), ("C", "a LOGIN u p\r\n"), ("F", b"\x02bad password")),
    "server-closed-retry": session(
        0, ("S", G), ("C", "a LOGIN u p\r\n"), ("T", "tok"), ("X",),
        ("S", G), ("T", "tok"), ("X",)),
    "greeting-bye": session(0, ("S", "* BYE go away\r\n")),
    "greeting-preauth-fragments": session(
        0, *[("S", c) for c in "* PREAUTH hi\r\n"]),
    "long-line": session(0, ("S", G), ("C", "a NOOP " + "x" * 9000 + "\r\n")),
    "untagged-between": session(
        0, ("S", G), ("C", "a LOGIN u p\r\n"), ("T", "tok"),
        ("S", "* 3 EXISTS\r\n* OK [ALERT] hi\r\na OK\r\n")),
    "nul-8bit": session(0, ("S", "* OK \x00\xff ready\r\n"),
                        ("C", "a LOGIN \x00 \xff\r\n")),
}
for k, v in imap.items():
    put("imap", k, v)

# POP3
PG = "+OK POP3 ready\r\n"
pop = {
    "user-pass": session(0, ("S", PG), ("C", "USER user@example.com\r\n"),
                         ("C", "PASS pw\r\n"), ("T", "tok"),
                         ("S", "+OK\r\n+OK logged in\r\n")),
    "capa": session(0, ("S", PG), ("C", "CAPA\r\n"),
                    ("S", "+OK\r\nSASL XOAUTH2\r\nSTLS\r\nUSER\r\n.\r\n")),
    "auth-plain": session(0, ("S", PG), ("C", "AUTH PLAIN\r\n"),
                          ("C", PLAIN + "\r\n"), ("T", "tok"),
                          ("S", "+ \r\n"), ("S", "+OK\r\n")),
    "auth-plain-ir": session(0, ("S", PG), ("C", "AUTH PLAIN " + PLAIN +
                                            "\r\n"), ("T", "tok"),
                             ("S", "-ERR [AUTH] no\r\n"), ("T", "t2"),
                             ("S", "+OK\r\n")),
    "bare-lf-pass": session(0, ("S", PG), ("C", "NOOP\nPASS secret\r\n"),
                            ("C", "USER u\nPASS p\r\n")),
    "stls-server": session(SERVER_STARTTLS, ("S", PG),
                           ("S", "+OK\r\nSTLS\r\n.\r\n"), ("S", "+OK go\r\n"),
                           ("R",), ("C", "USER u\r\nPASS p\r\n"),
                           ("T", "tok"), ("S", "+OK\r\n+OK\r\n")),
    "stls-local": session(LOCAL_STARTTLS | REQUIRE_TLS, ("S", PG),
                          ("C", "USER u\r\nSTLS\r\n"), ("L",),
                          ("C", "USER u\r\nPASS p\r\n")),
    "apop-top-list": session(0, ("S", "+OK <1.2@x>\r\n"),
                             ("C", "APOP u d41d8cd98f00b204e9800998ecf8427e"
                                   "\r\nLIST\r\nTOP 1 0\r\n"),
                             ("S", "-ERR\r\n-ERR\r\n-ERR\r\n")),
    "token-fail-closed": session(0, ("S", PG), ("C", "USER u\r\nPASS p\r\n"),
                                 ("F", b"\x04needs auth"), ("X",)),
    "long-line": session(0, ("S", PG), ("C", "USER " + "u" * 9000 + "\r\n")),
}
for k, v in pop.items():
    put("pop", k, v)

# SMTP
SG = "220 smtp.example.com ESMTP\r\n"
EHLO = "250-smtp.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n" \
    "250-AUTH LOGIN PLAIN XOAUTH2\r\n250 CHUNKING\r\n"
smtp = {
    "auth-plain": session(0, ("S", SG), ("C", "EHLO c\r\n"), ("S", EHLO),
                          ("C", "AUTH PLAIN " + PLAIN + "\r\n"), ("T", "tok"),
                          ("S", "235 2.7.0 ok\r\n")),
    "auth-plain-cont": session(0, ("S", SG), ("C", "EHLO c\r\n"),
                               ("S", EHLO), ("C", "AUTH PLAIN\r\n"),
                               ("C", PLAIN + "\r\n"), ("T", "tok"),
                               ("S", "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"),
                               ("S", "535 5.7.8 bad\r\n"), ("T", "t2"),
                               ("S", "235 ok\r\n")),
    "auth-login": session(0, ("S", SG), ("C", "EHLO c\r\n"), ("S", EHLO),
                          ("C", "AUTH LOGIN\r\n"),
                          ("C", b64("user@example.com") + "\r\n"),
                          ("C", b64("password") + "\r\n"), ("T", "tok"),
                          ("S", "235 ok\r\n")),
    "auth-login-ir-cancel": session(0, ("S", SG), ("C", "EHLO c\r\n"),
                                    ("S", EHLO),
                                    ("C", "AUTH LOGIN " + b64("u") + "\r\n"),
                                    ("C", "*\r\n")),
    "multiline-greeting": session(0, ("S", "220-first\r\n220-second\r\n"
                                       "220 last\r\n"), ("C", "HELO c\r\n"),
                                  ("S", "250 ok\r\n")),
    "data-boundary": session(0, ("S", SG), ("C", "EHLO c\r\n"), ("S", EHLO),
                             ("C", "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
                                   "DATA\r\n"),
                             ("S", "530 auth required\r\n530 x\r\n"
                                   "354 go\r\n"),
                             ("C", "Subject: x\r\n\r\n..dot\r\n.\r\n"
                                   "AUTH PLAIN " + PLAIN + "\r\n")),
    "bdat": session(0, ("S", SG), ("C", "EHLO c\r\n"), ("S", EHLO),
                    ("C", "BDAT 30 LAST\r\nAUTH PLAIN " + PLAIN + "\r\n"),
                    ("S", "530 auth first\r\n")),
    "bare-lf-auth": session(0, ("S", SG), ("C", "NOOP \nAUTH PLAIN " +
                                           PLAIN + "\r\n")),
    "starttls-server": session(SERVER_STARTTLS, ("S", SG),
                               ("C", "EHLO c\r\n"),
                               ("S", "250-x\r\n250-STARTTLS\r\n250 AUTH "
                                     "PLAIN\r\n"), ("S", "220 go\r\n"),
                               ("R",), ("S", EHLO),
                               ("C", "AUTH PLAIN " + PLAIN + "\r\n"),
                               ("T", "tok"), ("S", "235 ok\r\n")),
    "starttls-server-before-ehlo": session(
        SERVER_STARTTLS, ("S", SG),
        ("C", "NOOP \nAUTH PLAIN " + PLAIN + "\r\nMAIL FROM:<a@b>\r\n")),
    "starttls-refused": session(SERVER_STARTTLS, ("S", SG),
                                ("C", "EHLO c\r\n"),
                                ("S", "250 ok\r\n454 4.7.0 no TLS\r\n")),
    "starttls-local": session(LOCAL_STARTTLS | REQUIRE_TLS, ("S", SG),
                              ("C", "EHLO c\r\n"), ("S", EHLO),
                              ("C", "AUTH PLAIN " + PLAIN + "\r\n"),
                              ("C", "STARTTLS\r\n"), ("L",),
                              ("C", "EHLO c\r\n"), ("S", EHLO)),
    "server-closed": session(0, ("S", SG), ("C", "EHLO c\r\n"), ("S", EHLO),
                             ("C", "AUTH PLAIN " + PLAIN + "\r\n"),
                             ("T", "tok"), ("X",), ("S", SG), ("S", EHLO),
                             ("T", "tok")),
    "long-reply": session(0, ("S", "220-" + "x" * 9000 + "\r\n220 ok\r\n")),
}
for k, v in smtp.items():
    put("smtp", k, v)

put("imap_cap", "greeting", "\x00* OK [CAPABILITY IMAP4rev1 STARTTLS "
    "AUTH=XOAUTH2 SASL-IR LOGINDISABLED] ready")
put("imap_cap", "untagged", "\x01* CAPABILITY IMAP4rev1 AUTH=PLAIN "
    "AUTH=XOAUTH2 STARTTLS")
put("imap_cap", "tagged", "\x03a OK [CAPABILITY IMAP4rev1 ID ENABLE] done")
put("imap_cap", "lowercase", "\x02* capability imap4rev1 starttls")
put("imap_cap", "no-capabilities", "\x01* CAPABILITY")

put("sasl", "plain", PLAIN)
put("sasl", "plain-authzid", b64("admin\0user\0pw"))
put("sasl", "plain-one-nul", b64("user\0pw"))
put("sasl", "plain-three-nul", b64("\0u\0p\0"))
put("sasl", "equals", "=")
put("sasl", "unpadded", "AHVzZXIAcHc")
put("sasl", "login-user", b64("user@example.com"))

put("proxyhdr", "v1-tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 5678 993\r\n")
put("proxyhdr", "v1-tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 5678 993\r\n")
put("proxyhdr", "v1-unknown", "PROXY UNKNOWN\r\n")
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
put("proxyhdr", "v2-tcp4", SIG + b"\x21\x11" + struct.pack(">H", 12) +
    bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack(">HH", 5678, 993))
put("proxyhdr", "v2-tcp6-tlv", SIG + b"\x21\x21" + struct.pack(">H", 36 + 7)
    + bytes(16) + bytes(15) + b"\x01" + struct.pack(">HH", 1, 2) +
    b"\x04\x00\x04abcd")
put("proxyhdr", "v2-local", SIG + b"\x20\x00\x00\x00")
put("proxyhdr", "v2-unix", SIG + b"\x21\x31" + struct.pack(">H", 216) +
    bytes(216))

put("config", "minimal", "[IMAP-1993]\nserver_address = imap.example.com\n"
    "server_port = 993\n")
put("config", "full", """\ufeff[emailproxy]
delete_account_token_on_password_error = True
encrypt_client_secret_on_first_use = False
allow_catch_all_accounts = True
control_group = root
max_login_failures = 3

[IMAP-1993]
server_address = outlook.office365.com
server_port = 993
local_address = 127.0.0.1
allow_clients = 127.0.0.0/8, ::1
proxy_protocol = True
proxy_protocol_trusted = 10.0.0.0/8

[POP-1995]
server_address = outlook.office365.com
server_port = 995

[SMTP-1587]
server_address = smtp.office365.com
server_port = 587
server_starttls = True

[user@example.com]
permission_url = https://login.microsoftonline.com/common/oauth2/v2.0/authorize
token_url = https://login.microsoftonline.com/common/oauth2/v2.0/token
oauth2_scope = https://outlook.office365.com/IMAP.AccessAsUser.All
  https://outlook.office365.com/SMTP.Send offline_access
redirect_uri = http://localhost
client_id = abc
client_secret = def ; comment
token_salt = c2FsdA==
token_iterations = 1200000
access_token = gAAAAABk
access_token_expiry = 1700000000

[@example.org]
token_url = https://oauth2.googleapis.com/token
oauth2_scope = https://mail.google.com/
oauth2_flow = device
permission_url = https://oauth2.googleapis.com/device/code
client_id = x
client_secret = y

[*]
oauth2_flow = client_credentials
token_url = https://example.com/token
oauth2_scope = s
client_id = z
client_secret_encrypted = gAAAA
""")
put("config", "errors", "[IMAP-x]\nserver_port = 99999\n[bad section\n"
    "key\n=value\n[SMTP-25]\nserver_starttls = maybe\nserver_address = \n"
    "[SMTP-25]\n")
put("config", "nul", "[IMAP-1993]\nserver_address = a\x00b\n")

# imsg: type, len (header included), peerid, pid.
def imsg(t, payload=b"", peerid=0):
    return struct.pack("<IIII", t, 16 + len(payload), peerid, 0) + payload


def s32(v):
    return struct.pack("<I", v)


def mstr(s):
    if s is None:
        return s32(0xffffffff)
    return s32(len(s)) + s.encode() + b"\0"


put("imsg", "fields", imsg(1, s32(7) + struct.pack("<Q", 9) + mstr("x"),
                          peerid=0b1001))
put("imsg", "config-empty", imsg(T["CONF_START"]) +
    imsg(T["CONF_GLOBALS"], s32(0) * 8) + imsg(T["CONF_END"]) +
    imsg(T["CONF_START"]) + imsg(T["CONF_SERVER"], mstr("IMAP-1993") +
                                 s32(1)) + imsg(T["CONF_END"]))
put("imsg", "short-header", b"\x01\x00\x00\x00\x08")
put("imsg", "huge-len", struct.pack("<IIII", 1, 0x7fffffff, 0, 0))
put("imsg", "fd-bit", struct.pack("<IIII", 1, 0x80000010, 0, 0))
put("imsg", "string-no-nul", imsg(1, s32(3) + b"abc", peerid=2))
put("imsg", "string-null", imsg(1, mstr(None) + s32(5) + b"hello",
                                peerid=0b1110))

put("token_record", "record", json.dumps({
    "version": 1, "account": "user@example.com", "kdf": "pbkdf2-sha256",
    "iterations": 1200000, "salt": base64.b64encode(bytes(16)).decode(),
    "aead": "aes-256-gcm", "nonce": base64.b64encode(bytes(12)).decode(),
    "ciphertext": base64.b64encode(bytes(40)).decode(),
    "access_token_expiry": 1700000000, "created": 1690000000,
    "last_refresh": 1690000001, "last_use": 1690000002}, indent=2))
put("token_record", "bad-iterations", '{"version":1,"account":"a",'
    '"kdf":"pbkdf2-sha256","iterations":-1}')
put("token_record", "account-nul", '{"version":1,"account":"a\\u0000b"}')
put("token_record", "huge-times", '{"version":1,"account":"a","kdf":'
    '"pbkdf2-sha256","aead":"aes-256-gcm","iterations":1,"salt":'
    '"AAAAAAAAAAAAAAAAAAAAAA==","nonce":"AAAAAAAAAAAAAAAA","ciphertext":'
    '"AAAAAAAAAAAAAAAAAAAAAA==","access_token_expiry":1e300,"created":-1,'
    '"last_refresh":9223372036854775807,"last_use":"x"}')
put("token_record", "duplicate-key", '{"version":1,"version":1}')

try:
    from cryptography.fernet import Fernet
    key = base64.urlsafe_b64encode(bytes(range(32)))
    f = Fernet(key)

    def fernet(data, when):
        # A fixed IV: the same seed each time.
        return f._encrypt_from_parts(data, when, bytes(range(16)))

    put("fernet", "token", b"\x00" + fernet(b"refresh-token", 1700000000))
    put("fernet", "token-empty", b"\x00" + fernet(b"", 1))
    put("fernet", "multifernet", b"\x02c2FsdA==\n1200000\n" +
        fernet(b"access-token", 1700000000))
    put("fernet", "multifernet-legacy-salt", b"\x02c2Fs dA\n\n" +
        fernet(b"x\0y", 1700000000))
except ImportError:
    pass
put("fernet", "signed-raw", b"\x01\x80" + bytes(8) + bytes(16) + bytes(32))
put("fernet", "signed-short", b"\x01\x80" + bytes(8))
put("fernet", "multifernet-bad-iterations", b"\x02c2FsdA==\n-5\nabc")

put("oauth_token", "ok", b"\x00" + json.dumps({
    "access_token": "at", "refresh_token": "rt", "expires_in": 3599,
    "token_type": "Bearer"}).encode())
for name, v in (("1e300", "1e300"), ("negative", "-5"), ("real", "1.5"),
                ("string", '"3600"'), ("huge-int", "9223372036854775807"),
                ("null", "null"), ("string-junk", '"12x"'),
                ("neg-1e300", "-1e300")):
    put("oauth_token", "expires-in-" + name,
        b"\x00" + b'{"access_token":"at","expires_in":' + v.encode() + b"}")
put("oauth_token", "refresh-invalid-grant", b"\x03" + json.dumps({
    "error": "invalid_grant", "error_description": "expired"}).encode())
put("oauth_token", "busy", b"\x28" + b'{"error":"slow"}')
put("oauth_token", "not-json", b"\x00<html>hi</html>")
put("oauth_token", "array", b"\x00[1,2]")

DEV = {"device_code": "dc", "user_code": "ABCD-EFGH",
       "verification_uri": "https://example.com/device", "expires_in": 900,
       "interval": 5}
for name, extra, poll in (
        ("pending", {}, {"error": "authorization_pending"}),
        ("slow-down", {"interval": "7"}, {"error": "slow_down"}),
        ("expired", {"expires_in": 1e300}, {"error": "expired_token"}),
        ("denied", {"expires_in": -5}, {"error": "access_denied",
                                        "error_description": "no"}),
        ("tokens", {"interval": 1.5}, {"access_token": "a",
                                       "expires_in": "3600"}),
        ("google-url", {"verification_url": "https://g", "expires_in":
                        "1800"}, {"access_token": "a",
                                  "expires_in": 1e300})):
    d = dict(DEV)
    d.update(extra)
    if "verification_url" in extra:
        del d["verification_uri"]
    put("oauth_device", name, b"\x00" + (b"\x00" if name == "tokens" or
                                         name == "google-url" else b"\x01")
        + json.dumps(d).encode() + b"\0" + json.dumps(poll).encode())
put("oauth_device", "refused", b"\x01\x00" + b'{"error":"invalid_client"}')

# redirect: flags byte (bit 0 a flight waits, bits 1-2 its redirect_uri,
# bit 4 an account named), then a URL as pasted to emailproxyctl authorise.
put("redirect", "code", b"\x01http://localhost:8080/callback?code=abc&"
    b"state=state1")
put("redirect", "error", b"\x03http://127.0.0.1/?error=access_denied&"
    b"error_description=%3Cb%3Eno%3C%2Fb%3E&state=state1")
put("redirect", "unknown-state", b"\x00/cb?code=x&state=zz")
put("redirect", "bad-escape", b"\x01/callback?code=%zz&state=%00")
put("redirect", "paste-url", b"\x11http://localhost:8080/callback?code=c&"
    b"state=state1#frag")

# http_request: limits byte (bit 0 a 64-byte body, bit 1 a 256-byte head),
# then the request.
put("http_request", "get-metrics", b"\x00GET /metrics HTTP/1.1\r\n"
    b"Host: 127.0.0.1:9100\r\nAccept: application/openmetrics-text;"
    b"version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    b"text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n")
put("http_request", "post-form", b"\x01POST /authorise?x=1 HTTP/1.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
    b"Cookie: sid=abc\r\nContent-Length: 20\r\n\r\n"
    b"account=a%40b&csrf=1")
put("http_request", "bare-lf", b"\x00\r\nGET /?a HTTP/1.0\nHost: x\n\n")
put("http_request", "folded", b"\x00GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n")
put("http_request", "two-lengths", b"\x01POST / HTTP/1.1\r\n"
    b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab")
put("http_request", "chunked", b"\x01POST / HTTP/1.1\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
put("http_request", "http2", b"\x02PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
put("http_request", "long-head", b"\x02GET /" + b"a" * 300 +
    b" HTTP/1.1\r\n\r\n")



def header_enum():
    """{name: number} of enum imsg_type, and CTL_VERSION, from
    common/emailproxy.h."""
    with open(os.path.join(os.path.dirname(TOP), "..", "..", "common",
                           "emailproxy.h")) as f:
        text = f.read()
    body = text[text.index("enum imsg_type {"):]
    body = re.sub(r"/\*.*?\*/", "", body[:body.index("};")], flags=re.S)
    names = re.findall(r"\b(IMSG_[A-Z0-9_]+)\b", body)
    version = int(re.search(r"#define CTL_VERSION\s+(\d+)", text).group(1))
    return {n: i for i, n in enumerate(names)}, version


TYPES, CTL_VERSION = header_enum()
CTL = {k: TYPES["IMSG_CTL_" + k.upper()] for k in
       ("show_accounts", "show_sessions", "show_pending", "show_stats",
        "authorise", "forget", "reload", "log_verbose", "token")}


def ctl(t, payload=b"", peerid=None):
    """A control request: its peerid is the protocol's version."""
    return imsg(t, payload, CTL_VERSION if peerid is None else peerid)


put("control", "show-all", b"\x00" + b"".join(
    ctl(CTL[k]) for k in ("show_accounts", "show_sessions", "show_pending",
                           "show_stats")))
put("control", "show-all-data", b"\x02" + b"".join(
    ctl(CTL[k]) for k in ("show_stats", "show_accounts")))
put("control", "show-fail", b"\x05" + ctl(CTL["show_stats"]) +
    ctl(CTL["show_sessions"]))
put("control", "admin-verbose", b"\x01" + ctl(CTL["log_verbose"], s32(2)) +
    ctl(CTL["log_verbose"], s32(9)) + ctl(CTL["log_verbose"], b"\x01"))
put("control", "unprivileged-reload", b"\x00" + ctl(CTL["reload"]) +
    ctl(CTL["forget"], mstr("user@example.com")))
put("control", "admin-authorise", b"\x01" + ctl(CTL["authorise"],
    mstr("user@example.com") + mstr("http://localhost/?code=1&state=2")) +
    ctl(CTL["reload"]) + ctl(CTL["forget"], mstr("a@b")))
put("control", "many-requests", b"\x03" + ctl(CTL["show_pending"]) * 300)
put("control", "unknown-type", b"\x01" + ctl(9999) + ctl(1, b"x" * 40))
put("control", "truncated", b"\x01" + ctl(154)[:10])
put("control", "other-version", b"\x01" + ctl(CTL["show_stats"],
    peerid=CTL_VERSION + 1) + ctl(CTL["show_accounts"]))
put("control", "no-version", b"\x00" + ctl(CTL["show_pending"], peerid=0))
put("control", "token", b"\x00" + ctl(CTL["token"], mstr("user@example.com") +
    mstr("pw")) + ctl(CTL["token"], mstr("a@b") + b"\xff\xff\xff\xff") +
    ctl(CTL["token"], mstr("") + mstr("x")) + ctl(CTL["token"],
    mstr("a@b")))
put("control", "member-admin", b"\x08" + ctl(CTL["forget"],
    mstr("user@example.com")) + ctl(CTL["reload"]) +
    ctl(CTL["log_verbose"], s32(1)))
put("control", "payload-checks", b"\x01" + ctl(CTL["show_accounts"], b"xy") +
    ctl(CTL["forget"], mstr("a@b") + b"z") + ctl(CTL["authorise"],
    b"\xff\xff\xff\xff" + mstr("http://x/")) + ctl(CTL["reload"], b"1"))

# metrics: format byte (bit 0: OpenMetrics), then the show stats objects
# as a JSON array.
STATS = [
    {"proxy_sessions_open": 2, "proxy_sessions_total": 9,
     "proxy_connections_refused_total": 1, "proxy_logins_ok_total": 5,
     "proxy_logins_failed_total": 3,
     "proxy_logins_upstream_rejected_total": 1,
     "proxy_bytes_from_clients_total": 1234,
     "proxy_bytes_to_clients_total": 5678, "proxy_listeners": 2,
     "proxy_upstream_tls_handshakes_total": 4,
     "proxy_upstream_tls_resumed_total": 2,
     "proxy_start_time_seconds": 1700000000,
     "proxy_upstream_pool_opened_total": 3},
    {"server": "office365", "upstream_pool_limit": 2,
     "upstream_pool_connections": 2, "upstream_pool_idle": 1},
    {"listener": "imap", "protocol": "imap", "proxy_sessions_total": 6,
     "proxy_logins_ok_total": 4, "proxy_logins_failed_total": 1,
     "proxy_logins_upstream_rejected_total": 0},
    {"listener": "smtp \"587\"\\\n", "protocol": "smtp",
     "proxy_sessions_total": 3, "proxy_logins_failed_total": 2},
    {"tokend_logins_ok_total": 5, "tokend_kdf_queue": 0,
     "tokend_store_available": 1, "tokend_newer_counter_total": 7,
     "tokend_newer_gauge": -1},
    {"authd_requests_total": 2, "authd_grants_ok_total": 1,
     "authd_pending_authorisations": 1},
    {"account": "user@example.com", "needs_authorisation": True,
     "access_token_expiry": 1700003600},
    {"account": "a\"b\\c\nd@example.com", "needs_authorisation": 0},
]
put("metrics", "text", b"\x00" + json.dumps(STATS).encode())
put("metrics", "openmetrics", b"\x01" + json.dumps(STATS).encode())
put("metrics", "other-keys", b"\x00" + json.dumps([
    {"x": 1, "y_total": 2, "proxy_sessions_total": "9",
     "proxy_listeners": 1.5, "z": None},
    {"server": 3, "listener": ["x"], "account": None},
    [1, 2], "s", 4]).encode())
# Regressions: a sum or difference that does not fit, a key that is not
# a metric name (it wrote a line of its own), a key whose family the
# table has (typed twice).
put("metrics", "counter-sum-overflow", b"\x01" + json.dumps([
    {"proxy_sessions_total": 2 ** 62, "proxy_logins_failed_total": -2 ** 62,
     "proxy_logins_upstream_rejected_total": 2 ** 63 - 1},
    {"proxy_sessions_total": 2 ** 62}]).encode())
put("metrics", "key-not-a-name", b"\x00" + json.dumps([
    {"a b\nemailproxy_fake 1": 3, "": 1, "ok": 2}]).encode())
put("metrics", "family-typed-twice", b"\x01" + json.dumps([
    {"proxy_sessions": 3, "proxy_sessions_total": 4, "x": 1,
     "x_total": 2, "build_info": 1}]).encode())

# http_server: piece size and limits byte (bits 0-5: piece size - 1; bit
# 6: a 64-byte head; bit 7: no body), then what the client sends.
def hs(piece, req, small_head=False, no_body=False):
    b = (piece - 1) | (0x40 if small_head else 0) | (0x80 if no_body else 0)
    return bytes([b]) + (req.encode() if isinstance(req, str) else req)


put("http_server", "get-now", hs(64, "GET /now?x=1 HTTP/1.1\r\nHost: a\r\n"
                                 "Accept: text/plain\r\n\r\n"))
put("http_server", "get-now-bytewise", hs(1, "GET /now HTTP/1.0\n\n"))
put("http_server", "head-later", hs(7, "HEAD /later HTTP/1.1\r\n\r\n"))
put("http_server", "post-form", hs(13, "POST /form HTTP/1.1\r\n"
                                   "Content-Type: application/x-www-form-"
                                   "urlencoded\r\nContent-Length: 13\r\n"
                                   "Cookie: sid=1\r\n\r\nX-Name=a%20b c"))
put("http_server", "post-header-split", hs(64, "POST /post HTTP/1.1\r\n"
                                           "Content-Length: 16\r\n\r\n"
                                           "A=b\r\nInjected: 1"))
put("http_server", "method-not-allowed", hs(64, "POST /now HTTP/1.1\r\n"
                                            "Content-Length: 0\r\n\r\n"))
put("http_server", "not-found", hs(64, "GET /nope HTTP/1.1\r\n\r\n"))
put("http_server", "head-too-large", hs(64, "GET /now HTTP/1.1\r\nX: " +
                                        "y" * 200 + "\r\n\r\n", True))
put("http_server", "body-too-large", hs(64, "POST /form HTTP/1.1\r\n"
                                        "Content-Length: 5\r\n\r\nabcde",
                                        no_body=True))
put("http_server", "chunked", hs(64, "POST /form HTTP/1.1\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n0\r\n"))
put("http_server", "http2", hs(64, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
put("http_server", "two-requests", hs(64, "GET /now HTTP/1.1\r\n\r\n"
                                      "GET /later HTTP/1.1\r\n\r\n"))
put("http_server", "incomplete", hs(64, "GET /now HTTP/1.1\r\nHost"))
put("http_server", "garbage", hs(3, b"\x00\xff\r\n\r\n"))

# web: flags byte (bit 0 https, bit 1 the page under /auth/, bit 2 no
# login reaches tokend, bit 3 no redirect reaches authd), then events:
# op, length byte, data.  In requests: \x01 the cookie, \x02 the form
# token (43 bytes each), \x03 the last state, \x04 the page's path.
def wev(op, data=b""):
    if isinstance(data, str):
        data = data.encode()
    return op.encode() + bytes([len(data)]) + data


def wget(target, cookie=True):
    return wev("P", "GET \x04%s HTTP/1.1\r\nHost: mail.example.com\r\n%s"
               "\r\n" % (target, "Cookie: a=b; emailproxy_page=\x01\r\n"
                          if cookie else ""))


def wpost(fields, cookie=True, ctype="application/x-www-form-urlencoded"):
    body = "csrf=\x02&" + fields
    length = len(body) - 1 + 43
    return wev("P", "POST \x04login HTTP/1.1\r\n%sContent-Type: %s\r\n"
               "Content-Length: %d\r\n\r\n%s" % (
                   "Cookie: emailproxy_page=\x01\r\n" if cookie else "",
                   ctype, length, body))


LOGIN = "address=user%40example.com&password=p%26w+d"
put("web", "code-grant", b"\x00" + wget("", False) + wpost(LOGIN) +
    wev("C", "\x00https://login.example.com/authorize?a=1&b=<2>") +
    wget("status") +
    wev("P", "GET \x04callback?state=\x03&code=c0de HTTP/1.1\r\n"
        "Cookie: emailproxy_page=\x01\r\n\r\n") +
    wev("A", "\x01") + wev("D", "\x00user@example.com") + wget("status"))
put("web", "device-grant-under-path", b"\x03" + wget("", False) +
    wpost(LOGIN) + wev("C", "\x01WDJB-MJHT") + wget("status") +
    wev("F", "\x05Authorisation <b>expired</b> & \"gone\"") +
    wget("status") + wget("style.css"))
put("web", "refused-and-replayed", b"\x00" + wget("", False) +
    wpost("address=&password=") + wget("status") + wpost(LOGIN) +
    wev("F", "\x02Login failed <script>x</script>") + wget("status") +
    wev("P", "GET \x04callback?state=forged HTTP/1.1\r\n"
        "Cookie: emailproxy_page=\x01\r\n\r\n") +
    wpost(LOGIN, cookie=False) + wpost(LOGIN, ctype="text/plain"))
put("web", "redirect-listener", b"\x00" +
    wev("R", "GET /callback?state=abc&code=x&error=access_denied&"
        "error_description=%3Cb%3E HTTP/1.1\r\n\r\n") +
    wev("A", "\x00denied <i>by</i> the provider") +
    wev("R", "GET /x?code=%zz HTTP/1.0\r\n\r\n") + wev("X") +
    wev("A", "\x01ok"))
put("web", "busy", b"\x0c" + wget("", False) + wpost(LOGIN) +
    wget("status") + wev("R", "GET /cb?state=s HTTP/1.1\r\n\r\n"))
put("web", "head-and-methods", b"\x01" +
    wev("P", "HEAD / HTTP/1.1\r\n\r\n") +
    wev("P", "POST \x04status HTTP/1.1\r\nContent-Length: 0\r\n\r\n") +
    wev("P", "GET /nope HTTP/1.1\r\n\r\n") +
    wev("P", "GET \x04 HTTP/1.1\r\nCookie: emailproxy_page=;;; "
        "emailproxy_page=\x01 ;x\r\n\r\n"))

# tokend's newer refusals: waiting for a person (auth_wait), the shared
# store unavailable, throttled.
put("imap", "token-fail-pending-unavailable", session(
    0, ("S", G), ("C", "a LOGIN u p\r\n"),
    ("F", b"\x0aPlease authorise at https://mail.example.com/auth/"),
    ("C", "b AUTHENTICATE PLAIN " + PLAIN + "\r\n"),
    ("F", b"\x09store unavailable"), ("C", "c LOGIN u p\r\n"),
    ("F", b"\x08throttled")))
put("pop", "token-fail-pending-unavailable", session(
    0, ("S", PG), ("C", "USER u\r\nPASS p\r\n"),
    ("F", b"\x0aPlease authorise"), ("C", "USER u\r\nPASS p\r\n"),
    ("F", b"\x09store unavailable"), ("C", "AUTH PLAIN " + PLAIN + "\r\n"),
    ("F", b"\x08throttled")))
put("smtp", "token-fail-pending-unavailable", session(
    0, ("S", SG), ("C", "EHLO c\r\n"), ("S", EHLO),
    ("C", "AUTH PLAIN " + PLAIN + "\r\n"), ("F", b"\x0aPlease authorise"),
    ("C", "AUTH LOGIN dQ==\r\ncA==\r\n"), ("F", b"\x09unavailable"),
    ("C", "AUTH PLAIN " + PLAIN + "\r\n"), ("F", b"\x08throttled")))

# urlform: the page's form (or a query), NUL, the Cookie header.
put("urlform", "login-form", b"csrf=Zm9vYmFyYmF6cXV4&address=a%40b.example"
    b"&password=p%C3%A4ss+word\0emailproxy_page=" + b"A" * 43)
put("urlform", "callback-query", b"code=c%2F1&state=st&error=access_denied"
    b"&error_description=%3Cb%3Eno%3C%2Fb%3E\0a=b; emailproxy_page=x; c")
put("urlform", "hostile", b"address=%3Cscript%3E%22%27%26&password=%00&"
    b"csrf=%zz&=&&state\0emailproxy_page=" + b"B" * 60 +
    b";emailproxy_page=;emailproxy_page")

# pool: protocol byte (mod 3: IMAP, POP, SMTP), then the server's first
# bytes.
for name, proto, greeting in (
        ("imap-ok", 0, "* OK [CAPABILITY IMAP4rev1] ready\r\n"),
        ("imap-bye", 0, "* BYE too busy\r\n"),
        ("imap-ok-and-more", 0, "* OK hi\r\n* BYE\r\n"),
        ("imap-partial", 0, "* OK no end"),
        ("imap-short", 0, "* ok\n"),
        ("pop-ok", 1, "+OK POP3 ready <1.2@x>\r\n"),
        ("pop-err", 1, "-ERR busy\r\n"),
        ("smtp-multi", 2, "220-smtp.example.com\r\n220-more\r\n"
                          "220 ESMTP\r\n"),
        ("smtp-bare", 2, "220\r\n"),
        ("smtp-554", 2, "554 no service\r\n"),
        ("smtp-continuation-only", 2, "220-a\r\n220-b\r\n"),
        ("smtp-other-code", 2, "220-a\r\n221 b\r\n"),
        ("smtp-cr", 2, "220\rx\n")):
    put("pool", name, bytes([proto]) + greeting.encode())

# Every harness takes an empty input.
for t in os.listdir(TOP):
    put(t, "empty", b"")

# tokend: 16-bit length, the proxy's stream, then authd's.
TOKEN_GET, TOKEN_CANCEL = T["TOKEN_GET"], T["TOKEN_CANCEL"]
AUTH_TOKENS, AUTH_FAIL = T["AUTH_TOKENS"], T["AUTH_FAIL"]


def token_get(sid, user, pw, flags=0, rejected=None, proto=0,
              server="IMAP-1993", client="127.0.0.1"):
    return imsg(TOKEN_GET, mstr(server) + s32(proto) + mstr(client) +
                mstr(user) + mstr(pw) + s32(flags) + mstr(rejected), sid)


def auth_tokens(rid, access, expiry, refresh):
    return imsg(AUTH_TOKENS, mstr(access) + struct.pack("<Q", expiry) +
                mstr(refresh), rid)


def tokend(proxy, authd=b""):
    return struct.pack(">H", len(proxy)) + proxy + authd


put("tokend", "ccg-login", tokend(
    token_get(1, "ccg@example.com", "pw") +
    token_get(2, "ccg@example.com", "pw"),
    auth_tokens(1, "at", 1900000000, "rt")))
put("tokend", "code-login-tokens", tokend(
    token_get(7, "user@example.com", "secret"),
    auth_tokens(1, "at", 1900000000, "rt") +
    auth_tokens(2, "at2", 1900000000, None)))
put("tokend", "catch-all-fail", tokend(
    token_get(3, "x@catch.example", "pw"),
    imsg(AUTH_FAIL, s32(1) + mstr("denied"), 1)))
put("tokend", "ropc-rejected", tokend(
    token_get(4, "ropc@example.com", "pw") +
    token_get(5, "ropc@example.com", "pw", 1, "old-token"),
    auth_tokens(1, "at", 0, "rt") + auth_tokens(2, "at3", 2 ** 63 - 1,
                                                 "rt3")))
put("tokend", "unknown-and-empty", tokend(
    token_get(1, "nobody@example.net", "pw") +
    token_get(2, "", "") + token_get(3, "user@example.com\n", "pw") +
    imsg(TOKEN_CANCEL, b"", 2)))
put("tokend", "cancel", tokend(
    token_get(1, "ccg@example.com", "pw") + imsg(TOKEN_CANCEL, b"", 1),
    auth_tokens(1, "at", 1900000000, "rt")))
put("tokend", "malformed-get", tokend(
    token_get(1, "ccg@example.com", "pw", proto=7)))
put("tokend", "malformed-tokens", tokend(
    token_get(1, "ccg@example.com", "pw"),
    auth_tokens(1, "", 1, "") + auth_tokens(1, "a", 2 ** 64 - 1, None)))
put("tokend", "metrics", tokend(
    imsg(T["METRICS_REQUEST"], b"", 5) + imsg(T["METRICS_REQUEST"], b"x", 6),
    imsg(T["CTL_DATA"], mstr('{"authd_requests_total":1}'), 5) +
    imsg(T["CTL_END"], b"", 5) + imsg(T["CTL_DATA"], b"", 9)))
put("tokend", "fail-class", tokend(
    token_get(1, "ccg@example.com", "pw"),
    imsg(AUTH_FAIL, s32(99) + mstr("x"), 1)))
put("tokend", "shared-mailbox", tokend(
    token_get(1, "user@example.com\\team@example.com", "secret") +
    token_get(2, "TEAM@example.com", "team") +
    token_get(3, "ccg@example.com\\Team@example.com", "pw") +
    token_get(4, "desk@example.com", "pw") +
    token_get(5, "CCG@example.com\\desk@example.com", "pw") +
    token_get(6, "\\", "pw") + token_get(7, "a\\b\\c", "pw"),
    auth_tokens(1, "at", 1900000000, "rt") +
    auth_tokens(2, "at2", 1900000000, "rt2")))
# The authorisation page: a login, the consent, the browser's redirect
# relayed both ways, malformed ones.
PAGE_LOGIN, PAGE_CANCEL = T["PAGE_LOGIN"], T["PAGE_CANCEL"]
REDIRECT_RESPONSE, REDIRECT_RESULT = (T["REDIRECT_RESPONSE"],
                                      T["REDIRECT_RESULT"])


def page_login(rid, user, pw, client="127.0.0.1"):
    return imsg(PAGE_LOGIN, mstr(client) + mstr(user) + mstr(pw), rid)


def redirect_response(rid, path, state, code, error=None, desc=None):
    return imsg(REDIRECT_RESPONSE, mstr(path) + mstr(state) + mstr(code) +
                mstr(error) + mstr(desc), rid)


put("tokend", "page-code", tokend(
    page_login(1, "user@example.com", "secret") +
    page_login(2, "user@example.com", "secret") +
    token_get(3, "user@example.com", "secret") +
    redirect_response(5, "/callback", "st", "code") +
    imsg(PAGE_CANCEL, b"", 2),
    imsg(T["AUTH_CONSENT"], mstr("https://p/auth?state=st") + mstr("st") +
         mstr(None) + struct.pack("<Q", 1900000000), 1) +
    imsg(REDIRECT_RESULT, s32(200) + mstr("user@example.com") +
         mstr("received"), 5) +
    auth_tokens(1, "at", 1900000000, "rt")))
put("tokend", "page-malformed", tokend(
    page_login(1, "ccg@example.com", "pw") + imsg(PAGE_CANCEL, b"x", 1) +
    redirect_response(2, "no-slash", None, None),
    imsg(REDIRECT_RESULT, s32(99) + mstr(None) + mstr(None), 2)))
put("tokend", "empty", b"")

# What Redis answers tokend (redis_reply_fuzz.c): the first byte also
# chooses where the stream is split in two.
REC = json.dumps({
    "version": 1, "account": "a@example.com", "kdf": "pbkdf2-sha256",
    "iterations": 1200000, "salt": base64.b64encode(bytes(16)).decode(),
    "aead": "aes-256-gcm", "nonce": base64.b64encode(bytes(12)).decode(),
    "ciphertext": base64.b64encode(bytes(40)).decode(),
    "access_token_expiry": 1700000000, "created": 1690000000,
    "last_refresh": 1690000001, "last_use": 1690000002}) + "\n"


def bulk(s):
    s = s.encode() if isinstance(s, str) else s
    return b"$%d\r\n%s\r\n" % (len(s), s)


put("redis_reply", "record", b"*2\r\n" + bulk("3") + bulk(REC))
put("redis_reply", "record-int-version", b"*2\r\n:7\r\n" + bulk(REC))
put("redis_reply", "other-account", b"*2\r\n" + bulk("1") +
    bulk(REC.replace("a@example.com", "b@example.com")))
put("redis_reply", "no-record", b"*2\r\n$-1\r\n$-1\r\n")
put("redis_reply", "statuses", b"+OK\r\n+PONG\r\n:1\r\n:-1\r\n$-1\r\n*-1\r\n")
put("redis_reply", "error", b"-ERR wrong number of arguments\r\n")
put("redis_reply", "scan", b"*2\r\n" + bulk("17") + b"*2\r\n" +
    bulk("emailproxy:record:a@example.com") +
    bulk("emailproxy:record:b@example.com"))
put("redis_reply", "huge-array", b"*100000000\r\n:1\r\n")
put("redis_reply", "huge-bulk", b"$999999999\r\nabc")
put("redis_reply", "deep", b"*1\r\n" * 9 + b":1\r\n")
put("redis_reply", "bad-type", b"?\r\n")
put("redis_reply", "bad-version", b"*2\r\n" + bulk("1x") + bulk(REC))


# tokend with the control process's stream: the length's top bit set, a
# second length, then the proxy's, the control process's and authd's.
def tokend_ctl(proxy, control, authd=b""):
    return struct.pack(">HH", 0x8000 | len(proxy), len(control)) + proxy + \
        control + authd


def tk_ctl(name, payload=b"", cid=1):
    return imsg(TYPES["IMSG_CTL_" + name.upper()], payload, cid)


def ctl_token(cid, account, password, uid=0):
    p = mstr(account) + mstr(password) + s32(uid)
    return tk_ctl("token", p, cid)


put("tokend", "control-show", tokend_ctl(b"", tk_ctl("show_accounts", cid=1) +
    tk_ctl("show_stats", cid=2) + tk_ctl("health", cid=3) +
    tk_ctl("forget", mstr("USER@example.com"), 4) +
    tk_ctl("forget", mstr(""), 5) + tk_ctl("forget", b"x", 6) +
    tk_ctl("forget", mstr("nobody@example.net"), 7) +
    tk_ctl("show_accounts", cid=8)))
put("tokend", "control-token", tokend_ctl(
    b"", ctl_token(1, "ccg@example.com", "pw", 1000) +
    ctl_token(2, "Team@example.com", "team") +
    ctl_token(3, "user@example.com\\team@example.com", "secret") +
    ctl_token(4, "nobody@example.net", "pw") +
    ctl_token(5, "", "pw") + tk_ctl("token", mstr("a@b"), 6) +
    ctl_token(7, "user@example.com", "wrong"),
    auth_tokens(1, "at", 1900000000, "rt") +
    auth_tokens(2, "at2", 1900000000, "rt2")))
put("tokend", "control-token-with-proxy", tokend_ctl(
    token_get(1, "ccg@example.com", "pw"),
    ctl_token(1, "CCG@example.com", "pw") + tk_ctl("show_stats", cid=2) +
    tk_ctl("forget", mstr("ccg@example.com"), 3) +
    ctl_token(4, "ccg@example.com", "pw"),
    auth_tokens(1, "at", 1900000000, "rt") +
    imsg(AUTH_FAIL, s32(1) + mstr("denied"), 2)))
put("tokend", "control-unknown-type", tokend_ctl(
    b"", tk_ctl("reload", cid=1) + tk_ctl("health", cid=2)))
# Regression: an access token that is not UTF-8 (authd's answer) ended
# tokend when emailproxyctl token asked for it (fatal json_pack).
put("tokend", "control-token-not-utf8", tokend_ctl(
    b"", ctl_token(1, "ccg@example.com", "pw", 1000),
    imsg(AUTH_TOKENS, s32(3) + b"a\xf52\0" + struct.pack("<Q", 1900000000) +
         mstr("rt"), 1)))
