# relay.cmake: builds the controllable TCP relay (delay, jitter, rate cap, cut, refuse, reset on
# one link) and its integration test. Included from the top-level CMakeLists.txt.
add_executable(relay ${CMAKE_CURRENT_LIST_DIR}/relay.c)
target_link_libraries(relay PRIVATE PkgConfig::UV)

find_package(Threads REQUIRED)
add_executable(it_relay ${CMAKE_SOURCE_DIR}/tests/integration/it_relay.c)
target_link_libraries(it_relay PRIVATE PkgConfig::CMOCKA PkgConfig::CURL PkgConfig::CJSON Threads::Threads)
target_compile_definitions(it_relay PRIVATE RELAY_BIN="$<TARGET_FILE:relay>")
add_dependencies(it_relay relay)
add_test(NAME integration.it_relay COMMAND it_relay)
set_tests_properties(integration.it_relay PROPERTIES LABELS integration TIMEOUT 300
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
