# relay.cmake: builds the controllable TCP relay (delay, jitter, rate cap, cut, refuse, reset on
# one link) and its integration test. Included from the top-level CMakeLists.txt.
add_executable(relay ${CMAKE_CURRENT_LIST_DIR}/relay.c)
target_link_libraries(relay PRIVATE PkgConfig::UV)

find_package(Threads REQUIRED)
md_test(integration.it_relay SERIAL SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/it_relay.c
  LIBS PkgConfig::CURL PkgConfig::CJSON Threads::Threads
  DEFINES RELAY_BIN="$<TARGET_FILE:relay>" DEPENDS relay)
