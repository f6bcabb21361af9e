#!/bin/bash
# Install what building and testing smtpgate needs on Debian 12, if missing.
# Safe to run again: it only calls apt-get when a package is absent.
set -eu

packages=(
	gcc make autoconf automake libtool pkg-config   # build
	libconfig-dev                                   # config files
	libssl-dev                                      # TLS (OpenSSL 3)
	openssl                                         # TLS tests: certificates, s_client
	libcunit1-dev                                   # unit tests
	python3                                         # integration tests (smtplib, smtpd.py reference)
	swaks                                           # integration tests: a second real client
	libnet-ssleay-perl                              # ... and its --tls
	postfix                                         # smtp-sink: a real upstream for the proxy tests
	haproxy                                         # PROXY protocol tests: a real balancer in front
	procps iproute2                                 # ps/kill/ss in the tests
	strace                                          # maildir tests: which directories a delivery syncs
	mandoc                                          # kit tests: mandoc -T lint of the man pages
	groff-base                                      # kit tests: groff -ww renders them without warnings
	valgrind                                        # the unit tests run once under memcheck
	clang libclang-rt-14-dev                        # the libFuzzer target of the channel
	mailman3                                        # the mailman tests' real Mailman 3 (installed
	                                                # here, before any test timeout runs)
	dovecot-core                                    # AUTH tests: a private Dovecot auth service
	prometheus                                      # metrics tests: promtool and a private Prometheus
)
[ "$#" -gt 0 ] && packages+=("$@")

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/deps.sh: missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "scripts/deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix (for smtp-sink/smtp-source) must not ask questions or take port 25.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
