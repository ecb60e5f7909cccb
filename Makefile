# sluice - build, run and test.  `make run` and `make test` are the README's two commands.
# BUILD=build-asan SAN=1 builds everything with AddressSanitizer + UndefinedBehaviorSanitizer.

BUILD ?= build
SAN   ?= 0
CC    ?= gcc
PKGS  := yaml-0.1 libcurl zlib libisal openssl libpcre2-8 hiredis snappy libsystemd \
         rdkafka libzstd
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS_BASE := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
               -g -pthread $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -Isrc
ifeq ($(SAN),1)
CFLAGS_OPT  := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
else
CFLAGS_OPT  := -O2
LDFLAGS_SAN :=
endif
CFLAGS  += $(CFLAGS_BASE) $(CFLAGS_OPT)
# Libraries only one component needs are not linked but loaded on first use, so a pipeline
# without that component never maps them (src/core/lazylib.h; their headers still come from
# PKGS). Unit tests link them too: a test may call one directly (test_loki decompresses).
LAZY_PKGS := libcurl snappy libsystemd libzstd rdkafka openssl
LDLIBS  := $(shell pkg-config --libs $(filter-out $(LAZY_PKGS),$(PKGS)) 2>/dev/null) -lm -pthread
LAZY_LDLIBS := $(shell pkg-config --libs $(LAZY_PKGS) 2>/dev/null)
LDFLAGS += $(LDFLAGS_SAN)

SRCS     := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS     := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
NPROC    := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all setup run test unit unit-bins integration asan fuzz bench chaos image clean
all: $(BUILD)/sluice $(BUILD)/kafka_mock $(BUILD)/es_receiver

setup:
	@bash scripts/setup.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The status page served at / is one self-contained HTML file, embedded as a C string.
$(BUILD)/gen/status_page.h: src/core/status_page.html
	@mkdir -p $(dir $@)
	{ echo 'static const char sl_status_page[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@
$(BUILD)/src/core/api.o: $(BUILD)/gen/status_page.h
$(BUILD)/src/core/api.o: CFLAGS += -I$(BUILD)/gen

$(BUILD)/libsluice.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sluice: $(BUILD)/src/main.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit/%: tests/unit/%.c $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsluice.a $(LDFLAGS) $(LDLIBS) $(LAZY_LDLIBS) $(CMOCKA_LIBS)
# test_dial makes pthread_create fail on demand (net_dial's lookup without a thread).
$(BUILD)/unit/test_dial: LDFLAGS += -Wl,--wrap=pthread_create

# The Kafka peer of the integration tests and benchmarks: librdkafka's mock cluster.
$(BUILD)/kafka_mock: tests/emulators/kafka_mock.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs rdkafka 2>/dev/null) -pthread

# bench/es_k8s.sh's reference point (ES_CEILING=1): kubernetes_logs -> elasticsearch's documents in one
# thread, without a pipeline.
$(BUILD)/es_ceiling: bench/es_ceiling.c $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsluice.a $(LDFLAGS) $(LDLIBS)

# The elasticsearch benchmarks' count-only peer (bench/lib.sh's es_start).
$(BUILD)/es_receiver: bench/es_receiver.c $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsluice.a $(LDFLAGS) $(LDLIBS)

# What the learned gzip codes save on OTLP records (note 2 of src/net/gz.c).
$(BUILD)/gz_codes: bench/gz_codes.c $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsluice.a $(LDFLAGS) $(LDLIBS)

# json_escape's scans on CRI messages (src/formats/json.c).
$(BUILD)/escape_scans: bench/escape_scans.c $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsluice.a $(LDFLAGS) $(LDLIBS)

# What a hand-off between threads costs here: system call, wake-up, cache line (BENCHMARKS).
$(BUILD)/wake_cost: bench/wake_cost.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -pthread

# The built-in quickstart: sample pod logs under ./demo, NDJSON out, API on :2020.
run: setup
	@$(MAKE) --no-print-directory all
	./$(BUILD)/sluice run

unit-bins: $(UNIT_BINS)

unit: $(UNIT_BINS)
	@bash tests/unit/run.sh $(BUILD)

integration: $(BUILD)/sluice $(BUILD)/kafka_mock
	@SLUICE=$(abspath $(BUILD)/sluice) bash tests/integration/run.sh

# Every test, then the whole suite again under ASan+UBSan, then each libFuzzer target for a
# bounded smoke run (FUZZ_RUNS inputs from the seed corpus; `make fuzz FUZZ_SECONDS=600` or
# tests/fuzz/campaign.sh search for real). Builds use every core; the integration runner
# keeps its own count of tests at a time.
test: setup
	@$(MAKE) --no-print-directory -j$(NPROC) all unit-bins
	@$(MAKE) --no-print-directory unit integration
	@$(MAKE) --no-print-directory -j$(NPROC) BUILD=build-asan SAN=1 all unit-bins
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 unit integration
	@FUZZ_RUNS=$${FUZZ_RUNS:-50000} bash tests/fuzz/run.sh
	@echo "all tests passed (plain, ASan+UBSan, fuzz smoke)"

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all unit integration

fuzz:
	@bash tests/fuzz/run.sh

# A chaos soak (tests/chaos, docs/CHAOS.md): random seeds and scenarios for CHAOS_MINUTES, then a table.
chaos: $(BUILD)/sluice
	@SLUICE=$(abspath $(BUILD)/sluice) /usr/bin/python3 tests/chaos/chaos.py --soak --minutes $${CHAOS_MINUTES:-10}

# The container image (deploy/image): debootstrap + podman, then its filesystem tested with
# chroot. Slow and downloads Debian packages: not part of `make test`.
image: $(BUILD)/sluice
	@SLUICE=$(abspath $(BUILD)/sluice) IMAGE_WORK=$(abspath $(BUILD))/image bash deploy/image/test.sh

bench: $(BUILD)/sluice $(BUILD)/kafka_mock $(BUILD)/es_receiver
	@bash bench/run.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(OBJS:.o=.d)
