# tug: make help lists the targets.
SHELL      := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO         ?= go
DATA_DIR   ?= /var/lib/tug
LISTEN     ?= 127.0.0.1:7443
BIN        := bin
# Packages whose tests need root, containerd, CNI or nftables.
E2E_PKGS   := ./e2e/...
PKGS        = $(shell $(GO) list ./... | grep -v /e2e)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install missing system packages (containerd, runc, nftables, CNI plugins, git)
	@scripts/install-deps.sh

.PHONY: build
build: ## build bin/tugd and bin/tug
	$(GO) build -trimpath -o $(BIN)/tugd ./cmd/tugd
	$(GO) build -trimpath -o $(BIN)/tug ./cmd/tug
	$(GO) build -trimpath -o $(BIN)/tug-logdriver ./cmd/tug-logdriver

.PHONY: images
images: ## build the demo app into OCI archives in _output/images (no Docker, no registry)
	@scripts/images.sh

.PHONY: run
run: deps build images ## install, build and start tugd on examples/hello with one embedded node
	install -d $(DATA_DIR)/images
	cp -u _output/images/*.tar $(DATA_DIR)/images/
	install -m 0755 $(BIN)/tug /usr/local/bin/tug
	scripts/demo-repo.sh $(DATA_DIR)/demo-repo
	$(BIN)/tugd --repo $(DATA_DIR)/demo-repo --data-dir $(DATA_DIR) --listen $(LISTEN)

.PHONY: test
test: deps ## run every test: unit tests with the race detector, then end-to-end on real containerd, CNI and Git
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -timeout 20m -v $(E2E_PKGS) 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT)' ; test $${PIPESTATUS[0]} -eq 0
	for f in FuzzGitHub FuzzGitLab FuzzGitea FuzzGeneric; do $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime 3s ./gitsync/webhook/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFile$$' -fuzztime 3s ./manifest/

.PHONY: bench
bench: deps images ## run the benchmarks; each figure is printed beside its anchor measured in the same run
	$(GO) test -run '^$$' -bench . -benchmem ./reconciler/ ./state/ ./manifest/
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 10m ./proxy/
	$(GO) test -run '^$$' -bench Queries -benchtime 40000x -timeout 5m ./dns/
	$(GO) test -run '^$$' -bench BuildIndex -benchtime 10x -timeout 5m ./dns/
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 30m -v $(E2E_PKGS)
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 10m ./gitsync/...
	$(GO) test -run '^$$' -bench . -benchtime 50x -timeout 5m ./nodeagent/volume/
	$(GO) test -run '^$$' -bench . -benchtime 200x -timeout 5m ./api/remote/
	$(GO) test -run '^$$' -bench GRPCCheck -benchtime 500x -timeout 5m ./nodeagent/probe/
	$(GO) test -run '^$$' -bench 'HTTPCheck|TCPCheck' -benchtime 2000x -timeout 5m ./nodeagent/probe/
	$(GO) test -run '^$$' -bench LeaseRenewal -benchtime 200x -timeout 5m ./nodeagent/

.PHONY: lint
lint: ## gofmt, go vet and the package dependency rules
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -run TestDependencyRules ./internal/layout/

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN) _output
