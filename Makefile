# initns: every target has a one-line comment; `make help` lists them.
GO       ?= go
PREFIX   ?= /usr/local
DESTDIR  ?=
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X initns/proto.Version=$(VERSION)
# urfave_cli_no_docs: the client links no man-page generator, whose package
# initialisation every start of the binary would pay.
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -tags urfave_cli_no_docs -ldflags '$(LDFLAGS)'
STATICCHECK := bin/tools/staticcheck
PACKAGES := busybox-static qemu-system-x86 linux-image-amd64 cpio debootstrap pigz zstd xz-utils acl attr libcap2-bin hyperfine tar xfsprogs systemd-container gcc libc6-dev docker-registry apache2-utils skopeo

.PHONY: all init initns clean test bench fuzz demo distros install deps help

all: bin/initns bin/init ## build the static binary (bin/initns) and bin/init, a link to it

bin/initns: $(shell find . -name '*.go' -not -path './testdata/*') go.mod go.sum
	$(BUILD) -o $@ .

bin/init: bin/initns
	ln -sf initns $@

init: all ## the daemon's name for the same build

initns: all ## the client's name for the same build

clean: ## remove build output
	rm -rf bin

deps: ## install the Debian packages the tests, benchmarks and demo need (as root, idempotent)
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root to install: $$missing" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

test: deps all $(STATICCHECK) ## run every test: vet, staticcheck, a tidy go.mod, unit, integration (real namespaces and cgroups) and the VM tests (QEMU)
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) mod tidy -diff
	$(GO) test -count=1 -timeout 60m ./...

# staticcheck, pinned, installed once from the Go module proxy.
$(STATICCHECK):
	GOBIN=$(CURDIR)/bin/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

bench: deps all ## benchmarks beside the tools a user would otherwise use, printed as ratios
	$(GO) test -count=1 -p 1 -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

fuzz: ## run each fuzz target for a bounded time (FUZZTIME, default 30s)
	@\
	for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; \
		done; \
	done

distros: deps ## rebuild the Debian trees the distro VM tests boot (one per init; INITNS_DISTRO_CACHE, default /var/cache/initns-test/distro)
	rm -f $${INITNS_DISTRO_CACHE:-/var/cache/initns-test/distro}/*.tar
	$(GO) test -count=1 -parallel 5 -timeout 30m -run '^TestDistroCache$$' -v ./vmtest

demo: deps ## see it work: boot a VM with initns as PID 1, create and run an instance (INTERACTIVE=1 to keep the console)
	testdata/vm/demo.sh

install: all ## install the binary (PREFIX/lib/initns/initns) and its init and initns links in DESTDIR/PREFIX/sbin
	install -d $(DESTDIR)$(PREFIX)/lib/initns $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 bin/initns $(DESTDIR)$(PREFIX)/lib/initns/initns
	ln -sf ../lib/initns/initns $(DESTDIR)$(PREFIX)/sbin/init
	ln -sf ../lib/initns/initns $(DESTDIR)$(PREFIX)/sbin/initns

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 10
