#!/bin/sh
# SPDX-License-Identifier: MIT
# Makes the test PKI in $1 with the openssl CLI:
#   ca.pem                     the agency's CA (signs server.pem and client.pem)
#   server.pem, server.key     the peer's certificate, for 127.0.0.1
#   client.pem, client.key     the gateway's client certificate (right)
#   other-ca.pem               another CA, unknown to the peer
#   other-client.pem/.key      a client certificate from other-ca (wrong)
set -eu
dir=$1
OPENSSL=${OPENSSL:-openssl}
cd "$dir"
umask 077
mkca() { # name subject
	"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-out "$1.pem" -days 2 -subj "$2" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
mkcert() { # name subject ca ext
	"$OPENSSL" req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
		-subj "$2" 2>/dev/null
	printf '%s\n' "$4" > "$1.ext"
	"$OPENSSL" x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 2 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}
mkca ca "/CN=So Noi vu test CA"
mkca other-ca "/CN=Some other CA"
mkcert server "/CN=127.0.0.1" ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
mkcert client "/CN=motcua gateway UBND phuong" ca "extendedKeyUsage=clientAuth"
mkcert other-client "/CN=motcua gateway UBND phuong" other-ca "extendedKeyUsage=clientAuth"
chmod 644 ca.pem other-ca.pem server.pem client.pem other-client.pem
