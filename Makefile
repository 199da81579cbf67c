PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: simulate test bench install clean fault-table mutation results

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'
	$(PY) -c 'from fescontrol.core.warmup import warm_up; warm_up()'  # compile the numba kernels into their cache once
	touch $(STAMP)

install: $(STAMP)

simulate: $(STAMP)
	$(VENV)/bin/fescontrol simulate

# the tests that reach the gated modules (.ci/coverage_gate.py: safety/ and control/loop.py at 100 %
# line and branch coverage); they alone run under coverage, since tracing about doubles a test's time
GATE_TESTS := tests/safety tests/property/test_gate_props.py tests/property/test_gate_stateful.py \
	tests/unit/test_loop.py tests/unit/test_liveness.py

# lint and types; bytecode for src/ and hil/ (each real-rate test starts many processes, and
# without .pyc files, e.g. under PYTHONDONTWRITEBYTECODE, each would compile them again: ~0.3 s of
# CPU a start); GATE_TESTS on two workers under coverage, and the coverage gate; then mutation
# testing of the safety layer (time-boxed; survivors must be listed as equivalent) in the
# background, in the kernel's idle CPU class, while every other test that is not real-rate (unit,
# property, real-walk data) runs on two workers without coverage, and then the real-rate hil and
# interop tests (tests/conftest.py marks them `realtime`) two modules at a time: those wait on real
# time and leave about one core idle, which mutation takes. Its log is printed when it ends; a failure on
# either side fails the target. Last, the real-rate tests marked `alone` (the tightest wall-clock
# limits), serially, on a quiet machine.
test: $(STAMP)
	$(PY) -m ruff check src hil tests benchmarks tools .ci
	$(PY) -m mypy
	$(PY) -m compileall -q src hil
	$(PY) -m pytest -q -n 2 -m "not realtime" $(GATE_TESTS) --cov --cov-report=
	$(PY) .ci/coverage_gate.py
	mkdir -p runs
	$(PY) tools/mutation/run.py --idle --budget-s 900 > runs/mutation.log 2>&1 & mutation=$$!; \
	trap 'kill $$mutation 2>/dev/null' INT TERM; \
	$(PY) -m pytest -q -n 2 -m "not realtime" $(addprefix --ignore=,$(GATE_TESTS)) \
	  && $(PY) -m pytest -q -n 2 --dist loadfile -m "realtime and not alone"; tests=$$?; \
	[ $$tests -eq 0 ] || kill $$mutation; \
	wait $$mutation; mutated=$$?; cat runs/mutation.log; \
	[ $$tests -eq 0 ] && [ $$mutated -eq 0 ]
	$(PY) -m pytest -q -m alone

# mutation testing of the safety layer alone (make test runs it too)
mutation: $(STAMP)
	$(PY) tools/mutation/run.py

bench: $(STAMP)
	$(PY) -m pytest -q benchmarks --benchmark-enable --benchmark-only

# the real-walk tables of benchmarks/RESULTS.md: gaitpdb (every walk, both feet, heel cell alone and
# insole) and the foot-IMU sets (voisard2023, gaitmap-example, truong2019)
results: $(STAMP)
	$(PY) tools/results/gaitpdb_table.py --results benchmarks/RESULTS.md
	$(PY) tools/results/imu_tables.py --results benchmarks/RESULTS.md

# the fault table in safety/ is written from the fault-injection suite's measurements
fault-table: $(STAMP)
	mkdir -p runs
	FES_FAULT_TABLE=runs/fault-table.json FES_SM4_FAULT_TABLE=runs/fault-table-sm4.json $(PY) -m pytest -q \
		tests/hil/test_fault_injection.py tests/hil/test_sm4_sessions.py::test_sm4_device_fault_ends_safe
	$(PY) tools/fault_table.py runs/fault-table.json safety/fault-table.md --sm4 runs/fault-table-sm4.json

clean:
	rm -rf $(VENV) runs fescontrol-out
