# shellcheck shell=bash
# Dependency bootstrap shared by tools/check, tools/demo and tools/bench.
#
# 1. Debian 12 packages: installed with apt-get when missing (a no-op when present).
# 2. nghttp3 1.8 from bookworm-backports (binary packages), and ngtcp2's GnuTLS example client
#    (ngtcp2-client: gtlsclient) from there for the interop test t/netns/60-interop-ngtcp2.t.
# 3. wolfSSL (with QUIC) and ngtcp2 (with its wolfSSL crypto library): built from Debian's own
#    source tarballs, verified against pinned SHA256 sums, into a prefix cached under
#    $MPQUIC_DEPS_CACHE keyed by the pinned versions; the repo's .deps links to it.
#
# The mirror is whatever the machine's apt is already configured with: we read its URI from the
# system sources and use a private apt configuration (own source parts and lists), so the
# system's sources are never modified and no host name lives in this repository.

WOLFSSL_VERSION=5.7.2
WOLFSSL_SUITE=trixie
WOLFSSL_ORIG=wolfssl_${WOLFSSL_VERSION}.orig.tar.gz
WOLFSSL_SHA256=0f2ed82e345b833242705bbc4b08a2a2037a33f7bf9c610efae6464f6b10e305
NGTCP2_VERSION=1.11.0
NGTCP2_ORIG=ngtcp2_${NGTCP2_VERSION}.orig.tar.xz
NGTCP2_SHA256=382c15bf66b630f26021631b25b7eb1feac42c67c1d6826189d61091dfaa4d09
NGHTTP3_DEB_VERSION=1.8.0-1~bpo12+1
NGTCP2_CLIENT_DEB_VERSION=1.11.0-1~bpo12+1
# Bump when the build recipe below changes, so caches rebuild.
DEPS_RECIPE=6

DEBIAN_PACKAGES=(
	build-essential pkg-config meson ninja-build cmake xz-utils curl ca-certificates
	libev-dev libnftnl-dev libmnl-dev libjansson-dev libcmocka-dev
	nftables iproute2 iputils-ping iperf3 openssl openvpn procps psmisc kmod python3
	clang-format shellcheck systemd iptables jq
	clang libclang-rt-14-dev
)

deps_log() { printf '[deps] %s\n' "$*" >&2; }

deps_die()
{
	printf '[deps] error: %s\n' "$*" >&2
	exit 1
}

deps_apt_base()
{
	local missing=() p
	for p in "${DEBIAN_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || deps_die "missing packages (${missing[*]}); run as root to install them"
	deps_log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || deps_die "apt-get update failed"
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		deps_die "apt-get install ${missing[*]} failed"
}

# The URI of the Debian archive the machine already uses (deb822 or one-line format).
deps_mirror()
{
	local uri
	uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	if [ -z "$uri" ]; then
		uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
	fi
	[ -n "$uri" ] || deps_die "cannot find the Debian mirror in the system's apt sources"
	printf '%s\n' "${uri%/}"
}

# Private apt configuration: bookworm-backports binaries and trixie sources.
deps_private_apt()
{
	local dir=$1 mirror
	mirror=$(deps_mirror)
	mkdir -p "$dir/lists/partial" "$dir/parts" "$dir/archives/partial"
	: >"$dir/empty.list"
	cat >"$dir/parts/mpquic.sources" <<EOS
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $mirror
Suites: $WOLFSSL_SUITE bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
	APT_PRIVATE=(-o "Dir::Etc::SourceList=$dir/empty.list" -o "Dir::Etc::SourceParts=$dir/parts"
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives")
	if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Sources*' -mmin -1440 2>/dev/null)" ]; then
		deps_log "updating private apt lists (bookworm-backports, $WOLFSSL_SUITE sources)"
		apt-get -q "${APT_PRIVATE[@]}" update >/dev/null || deps_die "private apt-get update failed"
	fi
}

deps_nghttp3()
{
	local have
	have=$(dpkg-query -W -f='${Version}' libnghttp3-dev 2>/dev/null || true)
	[ "$have" = "$NGHTTP3_DEB_VERSION" ] && return 0
	[ "$(id -u)" -eq 0 ] || deps_die "libnghttp3-dev $NGHTTP3_DEB_VERSION is missing; run as root"
	deps_private_apt "$DEPS_CACHE/apt"
	deps_log "installing libnghttp3-dev $NGHTTP3_DEB_VERSION (bookworm-backports)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${APT_PRIVATE[@]}" \
		"libnghttp3-dev=$NGHTTP3_DEB_VERSION" "libnghttp3-9=$NGHTTP3_DEB_VERSION" >/dev/null ||
		deps_die "installing libnghttp3-dev $NGHTTP3_DEB_VERSION failed"
}

# A client that is not ours, for interop tests (bookworm itself only has 0.12.1).
deps_ngtcp2_client()
{
	local have
	have=$(dpkg-query -W -f='${Version}' ngtcp2-client 2>/dev/null || true)
	[ "$have" = "$NGTCP2_CLIENT_DEB_VERSION" ] && return 0
	[ "$(id -u)" -eq 0 ] || deps_die "ngtcp2-client $NGTCP2_CLIENT_DEB_VERSION is missing; run as root"
	deps_private_apt "$DEPS_CACHE/apt"
	deps_log "installing ngtcp2-client $NGTCP2_CLIENT_DEB_VERSION (bookworm-backports)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${APT_PRIVATE[@]}" "ngtcp2-client=$NGTCP2_CLIENT_DEB_VERSION" \
		"libngtcp2-16=$NGTCP2_CLIENT_DEB_VERSION" \
		"libngtcp2-crypto-gnutls8=$NGTCP2_CLIENT_DEB_VERSION" >/dev/null ||
		deps_die "installing ngtcp2-client $NGTCP2_CLIENT_DEB_VERSION failed"
}

# deps_fetch SRCPKG ORIG SHA256: download one orig tarball into $DEPS_CACHE/src and verify it.
deps_fetch()
{
	local pkg=$1 orig=$2 sha=$3 dir mirror out
	out="$DEPS_CACHE/src/$orig"
	if [ -f "$out" ] && echo "$sha  $out" | sha256sum -c --status; then
		return 0
	fi
	deps_private_apt "$DEPS_CACHE/apt"
	dir=$(apt-cache "${APT_PRIVATE[@]}" showsrc "$pkg" 2>/dev/null |
		awk -v o="$orig" '/^Directory:/ { d = $2 } $NF == o && d != "" { print d; exit }')
	[ -n "$dir" ] || dir=$(apt-cache "${APT_PRIVATE[@]}" showsrc "$pkg" 2>/dev/null |
		awk '/^Directory:/ { print $2; exit }')
	[ -n "$dir" ] || deps_die "source package '$pkg' not found in the private apt lists"
	mirror=$(deps_mirror)
	mkdir -p "$DEPS_CACHE/src"
	deps_log "downloading $orig"
	curl -fsSL --retry 3 -o "$out.part" "$mirror/$dir/$orig" || deps_die "download of $orig failed"
	echo "$sha  $out.part" | sha256sum -c --status ||
		{ rm -f "$out.part"; deps_die "SHA256 mismatch for $orig (expected $sha)"; }
	mv "$out.part" "$out"
}

deps_build_wolfssl()
{
	local src="$DEPS_CACHE/build/wolfssl-$WOLFSSL_VERSION"
	rm -rf "$src" && mkdir -p "$src"
	tar -xzf "$DEPS_CACHE/src/$WOLFSSL_ORIG" -C "$src" --strip-components=1
	deps_log "building wolfSSL $WOLFSSL_VERSION (QUIC, static)"
	# gcc 12 trips wolfSSL's own -Werror in src/tls.c, hence -Wno-error. wolfSSL 5.7.2's CMake
	# only adds the AES-NI assembly files for WOLFSSL_AESNI; the define (which must reach
	# options.h, as it changes struct layouts) and the -m flags that its configure script would
	# add are added here (AES-GCM is the data path's cipher).
	sed -i 's|^# Align data$|list(APPEND WOLFSSL_DEFINITIONS "-DWOLFSSL_AESNI")\n&|' "$src/CMakeLists.txt"
	cmake -S "$src" -B "$src/_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX="$1" -DCMAKE_INSTALL_LIBDIR=lib \
		-DCMAKE_C_FLAGS="-Wno-error -fPIC -maes -mpclmul -msse4.2" \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON \
		-DBUILD_SHARED_LIBS=OFF -DWOLFSSL_QUIC=yes -DWOLFSSL_SESSION_TICKET=yes \
		-DWOLFSSL_ALPN=yes -DWOLFSSL_SNI=yes \
		-DWOLFSSL_CURVE25519=yes -DWOLFSSL_ED25519=yes -DWOLFSSL_AESNI=yes \
		-DWOLFSSL_AESGCM=yes -DWOLFSSL_HARDEN=yes \
		-DWOLFSSL_CRYPT_TESTS=no -DWOLFSSL_EXAMPLES=no -DWOLFSSL_OLD_TLS=no \
		-DWOLFSSL_TLSV12=yes -DWOLFSSL_ECC=yes -DWOLFSSL_OPENSSLEXTRA=yes \
		>"$src/cmake.log" 2>&1 || deps_die "wolfSSL configure failed: $src/cmake.log"
	cmake --build "$src/_build" >"$src/build.log" 2>&1 ||
		deps_die "wolfSSL build failed: $src/build.log"
	cmake --install "$src/_build" >/dev/null || deps_die "wolfSSL install failed"
	# The installed options.h comes from a fixed template that has no AES-NI line.
	sed -i '0,/^#undef /s//#undef WOLFSSL_AESNI\n#define WOLFSSL_AESNI\n\n&/' \
		"$1/include/wolfssl/options.h"
	grep -q '^#define WOLFSSL_AESNI' "$1/include/wolfssl/options.h" ||
		deps_die "could not record WOLFSSL_AESNI in wolfssl/options.h"
}

deps_build_ngtcp2()
{
	local src="$DEPS_CACHE/build/ngtcp2-$NGTCP2_VERSION"
	rm -rf "$src" && mkdir -p "$src"
	tar -xJf "$DEPS_CACHE/src/$NGTCP2_ORIG" -C "$src" --strip-components=1
	deps_log "building ngtcp2 $NGTCP2_VERSION (wolfSSL crypto, static)"
	# Without libev ngtcp2 skips its examples, which need a wolfSSL with early data.
	PKG_CONFIG_PATH="$1/lib/pkgconfig" cmake -S "$src" -B "$src/_build" -G Ninja \
		-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$1" -DCMAKE_INSTALL_LIBDIR=lib \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_PREFIX_PATH="$1" \
		-DENABLE_WOLFSSL=ON -DENABLE_OPENSSL=OFF -DENABLE_GNUTLS=OFF -DENABLE_BORINGSSL=OFF \
		-DENABLE_PICOTLS=OFF -DENABLE_STATIC_LIB=ON -DCMAKE_DISABLE_FIND_PACKAGE_Libev=ON \
		-DENABLE_SHARED_LIB=OFF -DBUILD_TESTING=OFF \
		-DWOLFSSL_INCLUDE_DIR="$1/include" -DWOLFSSL_LIBRARY="$1/lib/libwolfssl.a" \
		>"$src/cmake.log" 2>&1 || deps_die "ngtcp2 configure failed: $src/cmake.log"
	cmake --build "$src/_build" >"$src/build.log" 2>&1 ||
		deps_die "ngtcp2 build failed: $src/build.log"
	cmake --install "$src/_build" >/dev/null || deps_die "ngtcp2 install failed"
}

# deps_bootstrap TOPDIR: everything above; exports PKG_CONFIG_PATH for meson.
deps_bootstrap()
{
	local top=$1 key prefix
	DEPS_CACHE=${MPQUIC_DEPS_CACHE:-/var/cache/mpquic-deps}
	mkdir -p "$DEPS_CACHE" || deps_die "cannot create $DEPS_CACHE"
	deps_apt_base
	deps_nghttp3
	deps_ngtcp2_client
	key="wolfssl-$WOLFSSL_VERSION-ngtcp2-$NGTCP2_VERSION-r$DEPS_RECIPE"
	prefix="$DEPS_CACHE/$key"
	if [ ! -f "$prefix/.complete" ]; then
		deps_fetch wolfssl "$WOLFSSL_ORIG" "$WOLFSSL_SHA256"
		deps_fetch ngtcp2 "$NGTCP2_ORIG" "$NGTCP2_SHA256"
		rm -rf "$prefix"
		deps_build_wolfssl "$prefix"
		deps_build_ngtcp2 "$prefix"
		rm -rf "$DEPS_CACHE/build"
		touch "$prefix/.complete"
		deps_log "dependencies ready in $prefix"
	fi
	ln -sfn "$prefix" "$top/.deps"
	export PKG_CONFIG_PATH="$top/.deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
}
