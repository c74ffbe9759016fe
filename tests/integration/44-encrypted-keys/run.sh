#!/bin/bash
# Encrypted keys on disk: with key-password-file every key certherd writes for the set —
# the key, the announced next key (key-policy = rotate), the refused-certificate key — is encrypted PKCS#8
# (PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256) that OpenSSL 3 and Python's ssl read with the same password; a
# TLS server started with it serves the certificate; rotation keeps the encryption; an encrypted key
# without a password file is an error (check: a problem; renew: a failure) and is never replaced.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need openssl; need python3; need curl; need gnutls-serv gnutls-bin; need certtool gnutls-bin

printf 'correct horse battery staple\n' >"$T/password"
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/ca/internal")

$(conf_leaf enc internal "$T/ca/internal")
names = localhost 127.0.0.1
key-policy = rotate
key-password-file = $T/password
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
json() { pin_field enc "$1"; }
encrypted() { [[ $(head -1 "$1") == "-----BEGIN ENCRYPTED PRIVATE KEY-----" ]] && ! grep -q 'BEGIN PRIVATE KEY' "$1"; }
pw=$(head -1 "$T/password")

expect 0 C ca init internal
expect 0 C renew
encrypted "$T/tls/enc.key" || die "the installed key is not encrypted PKCS#8: $(head -1 "$T/tls/enc.key")"
encrypted "$T/state/keys/enc.next" || die "the next key is not encrypted: $(head -1 "$T/state/keys/enc.next")"
ok "renew wrote the key and the announced next key as ENCRYPTED PRIVATE KEY"

# PBES2 with PBKDF2 (HMAC-SHA256, a strong iteration count) and AES-256-CBC.
openssl asn1parse -in "$T/tls/enc.key" >"$T/asn1"
for w in ':PBES2' ':PBKDF2' ':hmacWithSHA256' ':aes-256-cbc'; do grep -q -- "$w" "$T/asn1" || die "no $w in $(cat "$T/asn1")"; done
iter=$((16#$(awk '/INTEGER/ { sub(/.*:/, ""); print; exit }' "$T/asn1")))
((iter >= 100000)) || die "PBKDF2 iteration count $iter is weak"
ok "PBES2: PBKDF2-HMAC-SHA256 with $iter iterations, AES-256-CBC"

# OpenSSL 3 reads it with the password file, and its public key is the certificate's.
openssl pkey -in "$T/tls/enc.key" -passin "file:$T/password" -pubout -out "$T/pub.pem" ||
        die "openssl pkey -passin cannot read the key"
[[ $(openssl pkey -pubin -in "$T/pub.pem" -outform DER | openssl dgst -sha256 -binary | base64) == "$(spki_pin "$T/tls/enc.crt")" ]] ||
        die "the decrypted key is not the certificate's"
openssl pkey -in "$T/tls/enc.key" -passin pass:wrong -noout 2>/dev/null && die "openssl read the key with a wrong password"
ok "openssl pkey -passin file: reads it (and refuses a wrong password); it is the certificate's key"

python3 - "$T/tls/enc.crt" "$T/tls/enc.key" "$pw" <<'PY' || die "python ssl cannot load the key with the password"
import ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2], password=sys.argv[3])
try:
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(sys.argv[1], sys.argv[2], password="wrong")
    sys.exit("loaded with a wrong password")
except ssl.SSLError:
    pass
PY
ok "python3 ssl.SSLContext.load_cert_chain(password=...) loads it"

# A server started with the encrypted key serves the certificate: Python's ssl decrypts it in the server.
port=$(free_port)
python3 - "$T/tls/enc.crt" "$T/tls/enc.key" "$pw" "$port" <<'PY' &
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2], password=sys.argv[3])
s = socket.create_server(("127.0.0.1", int(sys.argv[4])))
for _ in range(3):
    c, _ = s.accept()
    try:
        t = ctx.wrap_socket(c, server_side=True)
        t.recv(1024)
        t.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        t.close()
    except Exception:
        c.close()
PY
pids+=($!)
wait_port "$port"
pin=$(json pin_sha256)
[[ $pin == "$(spki_pin "$T/tls/enc.crt")" ]] || die "published pin is not the certificate's"
[[ $(curl -fsS --max-time 5 --cacert "$T/ca/internal.crt" --pinnedpubkey "sha256//$pin" "https://localhost:$port/") == ok ]] ||
        die "curl against the server with the encrypted key"
ok "a TLS server started with the encrypted key serves the certificate; curl --pinnedpubkey with the published pin connects"

# Rotation keeps the encryption, and the new pin is the announced next pin.
next=$(json next_pin_sha256)
expect 0 C renew --force enc
encrypted "$T/tls/enc.key" || die "rotation wrote a plaintext key: $(head -1 "$T/tls/enc.key")"
encrypted "$T/state/keys/enc.next" || die "rotation wrote a plaintext next key"
[[ $(spki_pin "$T/tls/enc.crt") == "$next" ]] || die "the rotated key is not the announced next key"
[[ $(json next_pin_sha256) != "$next" ]] || die "no new next key announced"
openssl pkey -in "$T/tls/enc.key" -passin "file:$T/password" -noout || die "openssl cannot read the rotated key"
ok "renew --force (rotate) keeps -----BEGIN ENCRYPTED PRIVATE KEY-----; the new pin is the announced one"
if [[ -d $T/state/backup/enc ]]; then
        for f in "$T"/state/backup/enc/key*; do [[ -f $f ]] && { encrypted "$f" || die "backup $f is plaintext"; }; done
        ok "the backup of the previous generation is encrypted too"
fi
expect 0 C check enc
ok "check reads the encrypted key with the password file"

# key-policy = reuse with a password: the key stays (pin unchanged), still encrypted.
sed -i 's/^key-policy = rotate/key-policy = reuse/' "$T/certherd.conf"
before=$(spki_pin "$T/tls/enc.crt")
expect 0 C renew --force enc
encrypted "$T/tls/enc.key" || die "reuse wrote a plaintext key"
[[ $(spki_pin "$T/tls/enc.crt") == "$before" ]] || die "reuse changed the key"
ok "reuse keeps the encrypted key and the pin"

# Without the password file: check reports it, renew fails, the key file is not touched.
sed -i '/^key-password-file/d' "$T/certherd.conf"
sum=$(sha256sum <"$T/tls/enc.key")
for policy in reuse rotate; do
        sed -i "s/^key-policy = .*/key-policy = $policy/" "$T/certherd.conf"
        expect 2 C check enc
        grep -q "encrypted and no key-password-file is set" "$T/out" || die "check: $(cat "$T/out" "$T/err")"
        expect 1 C renew --force enc
        grep -q "is encrypted and no key-password-file is set; refusing to replace it with a plaintext key" "$T/err" ||
                die "renew ($policy) without password: $(cat "$T/err")"
        [[ $(sha256sum <"$T/tls/enc.key") == "$sum" ]] || die "renew ($policy) rewrote the encrypted key"
done
ok "without key-password-file: check reports the encrypted key, renew fails and leaves it as it is"

# A wrong password: the same refusal, naming the password file.
printf 'wrong\n' >"$T/wrong"
echo "key-password-file = $T/wrong" >>"$T/certherd.conf"
expect 1 C renew --force enc
grep -q "the password in $T/wrong does not decrypt it" "$T/err" || die "wrong password: $(cat "$T/err")"
[[ $(sha256sum <"$T/tls/enc.key") == "$sum" ]] || die "renew with a wrong password rewrote the key"
ok "a wrong password: renew refuses, the key is untouched"

# An unreadable password file: no key is written at all.
sed -i "s|^key-password-file = .*|key-password-file = $T/missing|" "$T/certherd.conf"
expect 1 C renew --force enc
grep -q "cannot read key-password-file $T/missing" "$T/err" || die "missing password file: $(cat "$T/err")"
[[ $(sha256sum <"$T/tls/enc.key") == "$sum" ]] || die "renew without a readable password file rewrote the key"
ok "an unreadable key-password-file: renew fails before any key is written"

# A set that had a plaintext key gets it encrypted once a password file is configured (reuse keeps it).
cat >>"$T/certherd.conf" <<CONF

$(conf_leaf plain internal "$T/ca/internal")
names = localhost
CONF
expect 0 C renew plain
grep -q 'BEGIN PRIVATE KEY' "$T/tls/plain.key" || die "plain set: $(head -1 "$T/tls/plain.key")"
before=$(spki_pin "$T/tls/plain.crt")
echo "key-password-file = $T/password" >>"$T/certherd.conf"
expect 0 C renew --force plain
encrypted "$T/tls/plain.key" || die "the reused plaintext key was not encrypted once key-password-file was set"
[[ $(spki_pin "$T/tls/plain.crt") == "$before" ]] || die "encrypting the reused key changed it"
ok "a reused plaintext key is rewritten encrypted once key-password-file is set (same key, same pin)"
# An operator's encrypted key in DER (no "ENCRYPTED" marker to see): opened with the password and kept
# as it is by reuse; without the password it is refused, not replaced. Reuse needs a certificate that
# shows the key is this set's: here the operator's own self-signed one, which the renewal replaces.
cat >>"$T/certherd.conf" <<CONF

$(conf_leaf der internal "$T/ca/internal")
names = localhost
key-password-file = $T/password
CONF
openssl ecparam -genkey -name prime256v1 -noout 2>/dev/null |
        openssl pkcs8 -topk8 -v2 aes-256-cbc -outform DER -passout "file:$T/password" -out "$T/tls/der.key"
chmod 600 "$T/tls/der.key"
openssl req -x509 -new -key "$T/tls/der.key" -keyform DER -passin "file:$T/password" -subj /CN=localhost \
        -days 1 -out "$T/tls/der.crt" 2>/dev/null || die "openssl cannot certify the DER key"
sum=$(sha256sum <"$T/tls/der.key")
expect 0 C renew --force der
[[ $(sha256sum <"$T/tls/der.key") == "$sum" ]] || die "reuse rewrote the operator's encrypted DER key"
[[ $(spki_pin "$T/tls/der.crt") == "$(openssl pkey -inform DER -in "$T/tls/der.key" -passin "file:$T/password" -pubout -outform DER | openssl dgst -sha256 -binary | base64)" ]] ||
        die "the certificate is not for the operator's DER key"
sed -i '/^\[certificate "der"\]/,$ { /^key-password-file/d }' "$T/certherd.conf"
expect 1 C renew --force der
grep -q "der: the installed key $T/tls/der.key is encrypted and no key-password-file is set" "$T/err" ||
        die "DER without password: $(cat "$T/err")"
[[ $(sha256sum <"$T/tls/der.key") == "$sum" ]] || die "the encrypted DER key was replaced"
ok "an encrypted DER key: used with the password and left as written; without it, refused and untouched"
echo "$n_ok passed, 0 failed"
