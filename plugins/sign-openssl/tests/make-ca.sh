#!/bin/sh
# SPDX-License-Identifier: MIT
# Makes a throwaway PKI in DIR for the sign-openssl tests and benchmark:
#   ca.pem/ca.key        root CA (RSA 2048)
#   rsa.key/rsa.pem      signer, RSA 2048       (key mode 0600)
#   ec.key/ec.pem        signer, ECDSA P-256    (key mode 0600)
#   tsa.key/tsa.pem      timestamp authority (EKU timeStamping, critical)
#   tsa.cnf              `openssl ts -reply` configuration for the TSA
#   other-ca.pem         a second root that signed nothing of ours
#   make-ca.sh DIR
set -eu
d=$1
mkdir -p "$d"
cd "$d"
umask 077
cat > ext.cnf <<'X'
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[signer]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[tsa]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
X
q() { "$@" >/dev/null 2>&1 || { echo "make-ca.sh: $* failed" >&2; "$@"; exit 1; }; }
root() { # name subject
	q openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" -config /dev/null -utf8
	q openssl x509 -req -in "$1.csr" -signkey "$1.key" -days 3650 -extfile ext.cnf -extensions ca -out "$1.pem"
}
root ca "/C=VN/O=motcua test/CN=motcua test root CA"
root other-ca "/CN=some other CA"
issue() { # name subject keyalg ext
	q openssl req -new -newkey "$3" -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" -config /dev/null -utf8
	q openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
		-extfile ext.cnf -extensions "$4" -out "$1.pem"
	chmod 600 "$1.key"
}
issue rsa "/C=VN/O=UBND xã Thử Nghiệm/CN=Bộ phận Một cửa (RSA)" rsa:2048 signer
q openssl genpkey -genparam -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.param.key
issue ec "/C=VN/O=UBND xã Thử Nghiệm/CN=Bộ phận Một cửa (ECDSA)" ec:ec.param.key signer
rm -f ec.param.key
issue tsa "/C=VN/O=motcua test/CN=motcua test TSA" rsa:2048 tsa
echo 01 > tsaserial
cat > tsa.cnf <<X
[tsa]
default_tsa = tsa_config
[tsa_config]
dir = $PWD
serial = \$dir/tsaserial
crypto_device = builtin
signer_cert = \$dir/tsa.pem
certs = \$dir/tsa.pem
signer_key = \$dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
X
rm -f *.csr
chmod 644 *.pem
