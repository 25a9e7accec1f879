# The README's commands.  `make demo` sets up and runs the platform,
# `make check` sets up and runs every test (last line: "N passed, N failed").
BUILD ?= build
ASAN_BUILD ?= build-asan
DATA_DIR ?= $(HOME)/.idp

# Debian packages idp builds and tests with.
PACKAGES = build-essential meson ninja-build pkg-config git \
	libjansson-dev libyaml-dev libmicrohttpd-dev libcurl4-openssl-dev \
	libsqlite3-dev libssl-dev libgit2-dev libpcre2-dev libcmocka-dev \
	libcmark-gfm-dev openssl curl ca-certificates \
	clang libclang-rt-14-dev jq

.PHONY: all deps build check demo asan test unit clean

all: build

# Installs whatever is missing (as root, or through sudo).  kubectl comes
# with the machine image; Debian's kubernetes-client is the fallback.
deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: build
	tests/run.sh --build $(BUILD)

check: deps build
	tests/run.sh --build $(BUILD)

unit: build
	tests/run.sh --build $(BUILD) --only unit

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

# Unit tests once more under AddressSanitizer and UBSan.
asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  tests/run.sh --build $(ASAN_BUILD) --only unit

demo: deps build
	$(BUILD)/idp up --data-dir $(DATA_DIR) --bootstrap --controllers all,simulate

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
