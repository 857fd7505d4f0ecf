# tests.cmake: the test fakes (real programs that tests and the demo run), the integration tests
# with real processes on loopback, the demo as a test, the simulator and the fuzz targets. Unit
# tests sit with their modules' .cmake files. Included only when MEDIC_TESTS is on.

# The test fakes (flaky_service, fake_railway, relay) are built by tests/chaos/chaos.cmake: medic
# chaos and medic demo run them, so they are installed with medic.

# A loop for tests: the node's Railway host adapter (md_heal) and curl driver (md_base) hosting the client,
# plus the fake's fixture.
add_library(rw_test_host STATIC ${CMAKE_SOURCE_DIR}/tests/integration/it_railway_host.c)
target_include_directories(rw_test_host PUBLIC ${CMAKE_SOURCE_DIR}/tests/integration)
target_link_libraries(rw_test_host PUBLIC md_heal md_railway md_base PkgConfig::UV PkgConfig::CURL PkgConfig::CJSON)
target_compile_definitions(rw_test_host PUBLIC
  FAKE_RAILWAY_BIN="$<TARGET_FILE:fake_railway>"
  FLAKY_BIN="$<TARGET_FILE:flaky_service>")

md_test(unit.test_railway SOURCES tests/unit/test_railway.c LIBS md_railway)
md_test(integration.it_railway SERIAL SOURCES tests/integration/it_railway.c LIBS rw_test_host
  DEPENDS fake_railway flaky_service)

# The schema contract: every document the client sends, and the fake's answers to the client's
# calls, checked against Railway's published schema with graphql-js (tests/schema/check.js).
add_executable(rw_schema_driver ${CMAKE_SOURCE_DIR}/tests/schema/schema_driver.c)
target_link_libraries(rw_schema_driver PRIVATE rw_test_host)
add_dependencies(rw_schema_driver fake_railway flaky_service)
find_program(MD_NODE_BIN NAMES node nodejs)
if(MD_NODE_BIN)
  md_test(schema.railway LABEL integration SERIAL
    COMMAND ${MD_NODE_BIN} ${CMAKE_SOURCE_DIR}/tests/schema/check.js $<TARGET_FILE:rw_schema_driver>)
else()
  md_test(schema.railway LABEL integration
    COMMAND sh -c "echo 'schema.railway: node is not installed (scripts/bootstrap)' && exit 77")
endif()

# Integration tests: real medic and flaky_service processes on loopback.
add_library(md_harness STATIC ${CMAKE_SOURCE_DIR}/tests/integration/harness.c)
target_include_directories(md_harness PUBLIC ${CMAKE_SOURCE_DIR}/tests/integration)
target_link_libraries(md_harness PUBLIC md_base PkgConfig::CURL PkgConfig::CJSON PkgConfig::CMOCKA)
target_compile_definitions(md_harness PUBLIC
  MEDIC_BIN="$<TARGET_FILE:medic>"
  FLAKY_BIN="$<TARGET_FILE:flaky_service>"
  FAKE_RAILWAY_BIN="$<TARGET_FILE:fake_railway>"
  SOURCE_DIR="${CMAKE_SOURCE_DIR}")

foreach(t IN ITEMS it_flaky_service it_detection it_api it_cli it_tls it_cluster it_consensus it_remedy
                   it_overload it_remedy_railway it_remedy_single it_remedy_blocked it_ledger_replay
                   it_addresses it_platform_env it_disk_loss it_detect_quorum)
  md_test(integration.${t} SERIAL SOURCES tests/integration/${t}.c LIBS md_harness
    DEPENDS medic flaky_service fake_railway)
endforeach()
target_link_libraries(it_cluster PRIVATE nng::nng)
# Issue 11: a connection flood against one node's cluster port.
md_test(integration.it_flood SERIAL SOURCES tests/integration/it_flood.c LIBS md_harness
  DEPENDS medic flaky_service fake_railway)
# Issue 10: per-project Railway tokens, and /v1/incidents following the leader. Issue 12:
# `medic railway provision|regions|check` against the fake.
foreach(t IN ITEMS it_railway_tokens it_incidents_leader it_railway_provision)
  md_test(integration.${t} SERIAL SOURCES tests/integration/${t}.c LIBS md_harness
    DEPENDS medic flaky_service fake_railway)
endforeach()

# Issue 14: the failover proxy in front of a primary and a backup flaky_service.
md_test(integration.it_failover SERIAL TIMEOUT 180 SOURCES tests/integration/it_failover.c LIBS md_harness
  DEPENDS medic flaky_service fake_railway)
# Issue 14: the proxy's bounds (backpressure, connect and idle timeouts) with sockets the test owns,
# and endpoint names resolved again (root: a mount namespace with its own /etc/hosts).
foreach(t IN ITEMS it_failover_limits it_failover_resolve)
  md_test(integration.${t} SERIAL TIMEOUT 180 SOURCES tests/integration/${t}.c tests/integration/it_sock.c
    LIBS md_harness DEPENDS medic flaky_service)
endforeach()

# Issue 12: `medic gen-certs`, and three nodes over tls+tcp:// with what it made.
md_test(integration.it_gen_certs SERIAL SOURCES tests/integration/it_gen_certs.c LIBS md_harness
  DEPENDS medic flaky_service fake_railway)

# The demo is a user-facing command: it must finish by itself and report a complete timeline.
md_test(integration.demo SERIAL TIMEOUT 180 PASS_REGEX "demo complete" COMMAND medic demo)
md_test(integration.demo_keep SERIAL TIMEOUT 180 COMMAND sh ${CMAKE_SOURCE_DIR}/tests/integration/demo_keep.sh
  $<TARGET_FILE:medic>)

# Issue 15: the dashboard in headless Chromium against three real nodes. selenium comes from Debian
# (python3-selenium), installed for Debian's python3: prefer /usr/bin's over one earlier on PATH.
# Skips (77) with the reason when chromium, chromium-driver or python3-selenium is missing.
find_program(MD_SYSTEM_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(MD_SYSTEM_PYTHON3 python3)
if(MD_SYSTEM_PYTHON3)
  md_test(browser.dashboard SERIAL TIMEOUT 240 COMMAND ${MD_SYSTEM_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/browser/dashboard.py
    --medic $<TARGET_FILE:medic> --flaky $<TARGET_FILE:flaky_service> --out ${CMAKE_BINARY_DIR}/browser)
endif()

include(${CMAKE_SOURCE_DIR}/tests/sim/sim.cmake)

# Fuzz targets for every decoder of outside bytes, built with clang's libFuzzer when present.
find_program(CLANG_BIN NAMES clang clang-14)
if(MEDIC_FUZZ AND CLANG_BIN)
  include(${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz.cmake)
endif()

# deploy/: the container, Kubernetes, systemd and Prometheus files (label deploy).
include(${CMAKE_SOURCE_DIR}/tests/deploy/deploy.cmake)

# The folder rules (one public header per module, arrows one way, pure modules stay pure).
md_test(unit.layout COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -P ${CMAKE_SOURCE_DIR}/tests/layout/check.cmake)
# What `cmake --install` puts in place: medic, and the programs medic chaos and medic demo run in
# libexec/medic.
md_test(unit.install COMMAND ${CMAKE_COMMAND} -DBUILD=${CMAKE_BINARY_DIR} -DTMP=${CMAKE_BINARY_DIR}/install-check
  -P ${CMAKE_SOURCE_DIR}/tests/layout/install.cmake)
