# Two commands do all set-up on a fresh machine:
#   make run   - the lab: 3 simulated hosts keeping the engine VM up (Ctrl-C tears it down)
#   make test  - install everything into .venv and run lint, types and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LAB_DIR ?= .lab
HOSTS ?= 3
PROFILE ?= fast
LEASES ?= fcntl

.PHONY: run test venv system-deps debian-modules lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Real components the tests use: sshd on 127.0.0.1 (remote installer runs), ping (network
# monitor), Debian's chromium (the manager's browser tests, driven by Playwright), and the
# production lease and VM parts: the sanlock daemon with its Python module, libvirt's
# Python module with the QEMU driver (embedded, no libvirtd), nftables.
APT_PACKAGES := openssh-server openssh-client iputils-ping chromium sanlock python3-sanlock \
	python3-libvirt libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 nftables
system-deps:
	@if ! command -v /usr/sbin/sshd >/dev/null 2>&1 || ! command -v ping >/dev/null 2>&1 \
			|| ! command -v chromium >/dev/null 2>&1 || ! command -v sanlock >/dev/null 2>&1 \
			|| ! [ -e /usr/lib/python3/dist-packages/libvirt.py ] \
			|| ! command -v qemu-system-x86_64 >/dev/null 2>&1 || ! command -v nft >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends $(APT_PACKAGES) >/dev/null; \
		else echo "need root to apt-get install $(APT_PACKAGES)" >&2; exit 1; fi; \
	fi
	@# libvirt's QEMU driver resolves its default user before reading qemu.conf; the
	@# package that would create it (libvirt-daemon-system) is not needed otherwise.
	@getent group kvm >/dev/null || groupadd --system kvm
	@getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
	@getent passwd libvirt-qemu >/dev/null || useradd --system --no-create-home \
		-d /var/lib/libvirt -s /usr/sbin/nologin -g libvirt-qemu -G kvm libvirt-qemu
	@$(MAKE) --no-print-directory debian-modules

# Debian's sanlock and libvirt modules, and only them, made importable in the venv (they
# are not on PyPI; the venv's Python has the same ABI as Debian's python3).
DEBIAN_MODULES := sanlock.cpython-311-x86_64-linux-gnu.so libvirt.py libvirtaio.py \
	libvirt_qemu.py libvirtmod.cpython-311-x86_64-linux-gnu.so \
	libvirtmod_qemu.cpython-311-x86_64-linux-gnu.so
debian-modules: venv
	@mkdir -p $(VENV)/debian-modules
	@for m in $(DEBIAN_MODULES); do ln -sf /usr/lib/python3/dist-packages/$$m $(VENV)/debian-modules/$$m; done
	@echo "$(abspath $(VENV))/debian-modules" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/debian-modules.pth"

# LEASES=sanlock needs the sanlock daemon and its Python module (system-deps)
run: venv $(if $(filter sanlock,$(LEASES)),system-deps)
	$(BIN)/hosted-engine-lab run --hosts $(HOSTS) --dir $(LAB_DIR) --profile $(PROFILE) \
		--leases $(LEASES)

lint: venv
	$(BIN)/ruff check hosted_engine tests benchmarks
	$(BIN)/ruff format --check hosted_engine tests benchmarks

# Plugin groups are directories with dashes in their names, out of the package's reach:
# each group is checked on its own.
typecheck: venv
	$(BIN)/mypy
	@for group in hosted_engine/deploy/plugins/*/; do \
		echo "mypy --strict $$group"; $(BIN)/mypy --strict $$group*/__init__.py || exit 1; done

# Three pytest processes share the 2 cores, since most of the time goes in waiting on real
# timers (failure timeouts, sanlock's delta leases, the chaos run's settling): the slow
# tests; the lab scenarios and the sanlock backend's; and everything else, in front.
# The two background lanes report after the front one.
LAB_LANE = tests/integration tests/locking/test_sanlock_backend.py
unit: venv system-deps
	@slow_log=$$(mktemp); lab_log=$$(mktemp); \
	$(BIN)/pytest -q -p no:cacheprovider -m slow --durations=5 >"$$slow_log" 2>&1 & slow=$$!; \
	$(BIN)/pytest -q -p no:cacheprovider -m "not slow" --durations=10 $(LAB_LANE) \
		>"$$lab_log" 2>&1 & lab=$$!; \
	$(BIN)/pytest -q -p no:cacheprovider -m "not slow" --durations=15 \
		$(addprefix --ignore=,$(LAB_LANE)); main=$$?; \
	wait $$lab; lab_rc=$$?; \
	echo "== lab scenarios and the sanlock backend (run beside the others): exit $$lab_rc"; \
	cat "$$lab_log"; \
	wait $$slow; slow_rc=$$?; \
	echo "== slow tests (run beside the others): exit $$slow_rc"; cat "$$slow_log"; \
	rm -f "$$slow_log" "$$lab_log"; \
	test $$main -eq 0 && test $$lab_rc -eq 0 && test $$slow_rc -eq 0

test: venv system-deps lint typecheck unit

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(LAB_DIR) build *.egg-info
