# transport.cmake: the md_transport library (cluster messaging over nng), its unit tests, and
# nothing else; included by the top-level CMakeLists.txt. HMAC-SHA256 comes from mbedcrypto,
# which Debian's nng is itself built against.
find_package(nng CONFIG REQUIRED)
find_library(MD_MBEDCRYPTO_LIB mbedcrypto REQUIRED)

add_library(md_transport STATIC
  transport/codec.c
  transport/envelope.c
  transport/replay.c
  transport/kv.c
  transport/net.c
  transport/pipe_events.c
  transport/peers.c
  transport/gossip.c
  transport/transport.c
)
target_include_directories(md_transport PUBLIC transport)
target_link_libraries(md_transport PUBLIC md_util nng::nng PkgConfig::UV ${MD_MBEDCRYPTO_LIB})

# tp_unit_test(name [extra sources...]): tests/unit/<name>.c against md_transport, as unit.<name>.
# Transport tests may include the module's private tp_int.h.
function(tp_unit_test name)
  add_executable(${name} tests/unit/${name}.c ${ARGN})
  target_link_libraries(${name} PRIVATE md_transport PkgConfig::CMOCKA)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)
endfunction()

tp_unit_test(test_tp_codec)
tp_unit_test(test_tp_rx)
tp_unit_test(test_tp_live tests/unit/test_tp_util.c)
tp_unit_test(test_tp_gossip tests/unit/test_tp_util.c)
tp_unit_test(test_tp_security tests/unit/test_tp_util.c)
